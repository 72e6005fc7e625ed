"""Gathers with a backward that does not depend on thread scheduling.

``x[index]`` with an integer tensor differentiates through ``index_put_(accumulate=True)``, which
PyTorch's CPU kernel parallelises with atomic float adds: when an index repeats (two samples of a
batch deleting the same gene, a gene annotated to several terms) the order of those adds, and so
the last bits of the gradient, follows the OS scheduler. With ``--threads 2`` on a busy node two
runs of one seed drift apart within a few epochs. ``index_select`` differentiates through
``index_add_``, which adds in index order on CPU, so the gradient is bitwise reproducible.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch
from torch.profiler import record_function


def take(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    r"""Rows of ``x`` at ``index`` (any shape): ``x[index]``, with a deterministic backward.

    .. math::
        \mathrm{out}[i_1, \dots, i_k, :] = x[\mathrm{index}[i_1, \dots, i_k], :]

    Shapes: ``x`` [N, *F], integer ``index`` [*I] -> [*I, *F]. Boolean masks are not accepted
    (their positions are unique, so plain indexing is already deterministic there).
    """
    return x.index_select(0, index.reshape(-1)).view(*index.shape, *x.shape[1:])


def section(name: str) -> AbstractContextManager:
    """A named range for ``dcellx bench --profile`` (``torch.profiler.record_function``) while a
    profiler runs, else nothing: outside profiling it costs one flag read (~0.1 us), where an
    unconditional ``record_function`` costs ~6 us, ~0.5 ms a step over the engine's sections."""
    return record_function(name) if torch.autograd._profiler_enabled() else nullcontext()
