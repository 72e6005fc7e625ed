"""Working memory of the fused engine (``dcellx.nn.fused``): one flat block per live graph.

A forward carves the block into named views for its batch size (``_shapes``) and keeps it until
its backward ran or its graph was freed (``Buffers.owner``, a weak reference to the autograd
context), so a second forward before that gets another block and interleaved forwards stay
correct. Once free, the block serves the next forward of any batch size it is large enough for.
"""

from __future__ import annotations

import math
import weakref

import torch

from dcellx.nn.slots import SlotPlan


def _shapes(plan: SlotPlan, B: int, keep: bool) -> list[tuple[str, tuple[int, ...]]]:
    """What one forward (and, with ``keep``, its backward) works in: states H [rows, B],
    pre-activations P [slots, B], gathered inputs X (every stratum's when a backward follows,
    else the largest one's), aux rows A [aux, B], per-slot mean and inverse std; for the
    backward dL/dH G [rows, B], two stratum-sized scratch blocks D, E and a stratum's dL/dX."""
    out = [("H", (plan.num_rows, B)), ("P", (plan.num_slots, B))]
    out += [("X", (plan.num_inputs if keep else plan.max_inputs, B)), ("A", (plan.num_aux, B))]
    out += [("mu", (plan.num_slots,)), ("rstd", (plan.num_slots,))]
    if keep:
        out += [("G", (plan.num_rows, B)), ("D", (plan.max_slots, B))]
        out += [("E", (plan.max_slots, B)), ("dX", (plan.max_inputs, B))]
    return out


class Buffers:
    """One flat block of memory, carved into the named views of ``_shapes`` for each forward:
    a block serves any batch size and purpose it is large enough for, so training steps,
    evaluation chunks and an epoch's smaller last batch share it."""

    def __init__(self, numel: int, like: torch.Tensor):
        self.storage = like.new_empty(numel)
        self.owner: weakref.ref | None = None  # the graph (ctx) using it, until its backward
        self.key: tuple[int, bool] = (0, False)

    def carve(self, plan: SlotPlan, B: int, keep: bool) -> Buffers:
        off = 0
        for name, shape in _shapes(plan, B, keep):
            n = math.prod(shape)
            setattr(self, name, self.storage[off : off + n].view(shape))
            off += n
        self.key = (B, keep)
        self.H[plan.zero_row].zero_()
        return self

    def grad_space(self) -> tuple[torch.Tensor, ...]:
        return self.G, self.D, self.E, self.dX

    def free(self) -> bool:
        return self.owner is None or self.owner() is None


class BufferPool:
    """The model's blocks: a forward takes the smallest free one that is large enough, else a
    new one, which replaces the free blocks smaller than it (so memory settles at one block of
    the largest need, plus one per graph still waiting for its backward)."""

    def __init__(self) -> None:
        self.sets: list[Buffers] = []

    def take(self, plan: SlotPlan, B: int, like: torch.Tensor, keep: bool) -> Buffers:
        need = sum(math.prod(shape) for _, shape in _shapes(plan, B, keep))
        same = lambda b: b.storage.dtype == like.dtype and b.storage.device == like.device  # noqa: E731
        fits = [b for b in self.sets if b.free() and same(b) and b.storage.numel() >= need]
        if fits:
            return min(fits, key=lambda b: b.storage.numel()).carve(plan, B, keep)
        self.sets = [b for b in self.sets if not b.free() or (same(b) and b.storage.numel() > need)]
        buf = Buffers(need, like)
        self.sets.append(buf)
        return buf.carve(plan, B, keep)
