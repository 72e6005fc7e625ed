r"""Gathers and scatter-adds whose result does not depend on thread scheduling, on any device.

Two kernels make a sum's order follow the scheduler when an index repeats (two samples of a
batch deleting the same gene, a gene annotated to several terms, a state read by two parents):

* ``x[index]`` differentiates through ``index_put_(accumulate=True)``, which PyTorch's CPU kernel
  parallelises with atomic float adds;
* ``index_add_`` (the backward of ``index_select``) adds in index order on CPU, one row after the
  other, but with atomic float adds on CUDA.

So the last bits of a gradient, and of any forward scatter-add, follow the scheduler; two runs of
one seed drift apart within a few epochs. Here every scatter-add is written once, ``add_at_``:

* on CPU, ``index_add_`` itself (sequential, reproducible, and the fastest);
* elsewhere (CUDA, the ``meta`` device of the tests, or CPU inside ``segment_sums()``) a
  *segment sum*: the entries are sorted by target with a stable sort (or in an order precomputed
  on the host, ``SegmentPlan``), each run of equal targets is summed by ``torch.segment_reduce``
  (one thread per segment adds its entries in order) into the run's first position, and
  the run sums are added at their targets. The other positions of a run carry an exact 0, so
  the final ``index_add_`` adds one non-zero value per target and its result is the same in any
  order. With :math:`t` the sorted targets and :math:`v` the values in that order,

  .. math::
      \mathrm{out}[t_i] \mathrel{+}= \sum_{j \in \mathrm{run}(i)} v_j
      \quad (i \text{ first of its run}), \qquad \mathrm{out}[t_i] \mathrel{+}= 0 \text{ else.}

  Shapes are static (no host sync, capturable in a CUDA graph): sizes are those of the inputs.
  The order of additions inside a target, ascending entry order, is the one the CPU kernel uses,
  so the segment path equals it bitwise when ``out`` starts at zero, and to rounding (one sum
  formed before it is added) otherwise.

``take`` (a gather) and ``index_add`` (a scatter-add, out of place) are differentiable; the
backward of one is the other, so every gradient of the engine's gathers is such a sum.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np
import torch
from torch.profiler import record_function

_SEGMENTS_ON_CPU = False


@contextmanager
def segment_sums(on: bool = True) -> Iterator[None]:
    """Within the block, CPU tensors also take the segment-sum path (what CUDA runs): the tests
    compare both paths on CPU."""
    global _SEGMENTS_ON_CPU
    before, _SEGMENTS_ON_CPU = _SEGMENTS_ON_CPU, on
    try:
        yield
    finally:
        _SEGMENTS_ON_CPU = before


def uses_segments(t: torch.Tensor) -> bool:
    """Whether scatter-adds into ``t`` take the segment-sum path (module docstring)."""
    return t.device.type != "cpu" or _SEGMENTS_ON_CPU


@dataclass(frozen=True)
class SegmentPlan:
    """A scatter-add's order for a fixed index, computed once on the host: ``order`` (which
    entries, sorted by target; entries left out are dropped), ``target`` (their targets in that
    order) and ``lengths`` (a run's length at its first position, 0 elsewhere)."""

    order: torch.Tensor
    target: torch.Tensor
    lengths: torch.Tensor

    @classmethod
    def of(cls, index: np.ndarray, keep: np.ndarray | None = None) -> SegmentPlan:
        """The plan of ``index`` (int [M]); ``keep`` (bool [M]) drops the other entries."""
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        pos = np.arange(len(index)) if keep is None else np.nonzero(keep)[0]
        order = pos[np.argsort(index[pos], kind="stable")]
        t = index[order]
        first = np.searchsorted(t, t, side="left")
        end = np.searchsorted(t, t, side="right")
        lengths = np.where(first == np.arange(len(t)), end - first, 0)
        return cls(*(torch.from_numpy(a.astype(np.int64)) for a in (order, t, lengths)))

    def to(self, device: torch.device | str) -> SegmentPlan:
        return SegmentPlan(self.order.to(device), self.target.to(device), self.lengths.to(device))


def _runs(index: torch.Tensor) -> SegmentPlan:
    """``SegmentPlan`` of a device index, on the device: a stable sort and two binary searches
    (static shapes, no host sync)."""
    order = torch.argsort(index, stable=True)
    t = index.index_select(0, order)
    first = torch.searchsorted(t, t)
    end = torch.searchsorted(t, t, right=True)
    pos = torch.arange(len(t), device=t.device)
    return SegmentPlan(order, t, torch.where(first == pos, end - first, 0))


def add_at_(
    out: torch.Tensor, index: torch.Tensor, src: torch.Tensor, plan: SegmentPlan | None = None
) -> torch.Tensor:
    """``out.index_add_(0, index, src)`` in place, reproducibly on every device (module
    docstring); ``plan``: the precomputed order of ``index`` (may drop entries whose sum is
    never read). Not differentiable (the fused engine's own backward uses it)."""
    if not uses_segments(out) or index.numel() == 0:
        return out.index_add_(0, index, src)
    index = index.reshape(-1)
    src = src.reshape(len(index), *out.shape[1:])
    p = _runs(index) if plan is None else plan
    sums = torch.segment_reduce(src.index_select(0, p.order), "sum", lengths=p.lengths, unsafe=True)
    return out.index_add_(0, p.target, sums)


class _Take(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, index, plan):
        ctx.save_for_backward(index)
        ctx.rows, ctx.plan = x.shape[0], plan
        return x.index_select(0, index)

    @staticmethod
    def backward(ctx, grad):
        (index,) = ctx.saved_tensors
        g = grad.new_zeros(ctx.rows, *grad.shape[1:])
        return add_at_(g, index, grad, ctx.plan), None, None


class _IndexAdd(torch.autograd.Function):
    @staticmethod
    def forward(ctx, out, index, src, plan):
        ctx.save_for_backward(index)
        ctx.src_shape = src.shape
        return add_at_(out.clone(), index, src, plan)

    @staticmethod
    def backward(ctx, grad):
        (index,) = ctx.saved_tensors
        return grad, None, grad.index_select(0, index).view(ctx.src_shape), None


def take(x: torch.Tensor, index: torch.Tensor, plan: SegmentPlan | None = None) -> torch.Tensor:
    r"""Rows of ``x`` at ``index`` (any shape): ``x[index]``, with a reproducible backward.

    .. math::
        \mathrm{out}[i_1, \dots, i_k, :] = x[\mathrm{index}[i_1, \dots, i_k], :]

    Its backward is the scatter-add ``add_at_`` of the output gradient at ``index`` (``plan``:
    the precomputed order of a fixed ``index``). Shapes: ``x`` [N, *F], integer ``index`` [*I]
    -> [*I, *F]. Boolean masks are not accepted (their positions are unique, so plain indexing
    is already deterministic there).
    """
    flat = index.reshape(-1)
    if uses_segments(x) and torch.is_grad_enabled() and x.requires_grad:
        out = _Take.apply(x, flat, plan)
    else:
        out = x.index_select(0, flat)
    return out.view(*index.shape, *x.shape[1:])


def index_add(
    out: torch.Tensor, index: torch.Tensor, src: torch.Tensor, plan: SegmentPlan | None = None
) -> torch.Tensor:
    r"""``out.index_add(0, index, src)`` out of place, differentiable, reproducible on every
    device (module docstring): :math:`\mathrm{out}'[i] = \mathrm{out}[i] + \sum_{j:
    \mathrm{index}[j] = i} \mathrm{src}[j]`. Shapes: ``out`` [N, *F], ``index`` [M],
    ``src`` [M, *F]."""
    if not uses_segments(out):
        return out.index_add(0, index, src)
    return _IndexAdd.apply(out, index, src, plan)


def section(name: str) -> AbstractContextManager:
    """A named range for ``dcellx bench --profile`` (``torch.profiler.record_function``) while a
    profiler runs, else nothing: outside profiling it costs one flag read (~0.1 us), where an
    unconditional ``record_function`` costs ~6 us, ~0.5 ms a step over the engine's sections."""
    return record_function(name) if torch.autograd._profiler_enabled() else nullcontext()
