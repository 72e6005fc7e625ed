"""The two kinds of epoch. Each returns the epoch's metrics row (``{}`` on processes other than the
main one, which scores for all) or, in train mode, ``None`` when a signal stopped it mid-epoch.

``overfit``: one optimiser step on the fixed batch, whose own forward pass gives the
train-mode-BatchNorm predictions (so running statistics move once per step), then a separate
no-grad eval-mode forward on the same batch (running statistics).

``train``: the training split in minibatches whose order depends only on (seed, epoch), so a
resumed run needs no RNG state to replay it; eval-mode metrics are on the validation split.
Under ``--ddp`` every process walks the same global batches and steps on its part of each.

``max_steps`` counts optimiser steps over the whole run (``LoopState.steps``): the epoch that
reaches it stops there and is scored on the steps it took, as a signal-stopped epoch resumes.

Nothing is read back to the host per step: the losses are summed and the predictions kept on the
device, and read once when the epoch is scored (or saved mid-epoch). The sums are the float64
sums of ``loss * rows`` in step order, the same additions in the same order as when each step's
loss was read as a Python float, so CPU metrics are unchanged to the last bit.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dcellx.train.checkpoint import LoopState
from dcellx.train.context import RunContext, synchronize
from dcellx.train.evaluate import epoch_row, predict_split
from dcellx.train.signals import StopSignals
from dcellx.train.throughput import Throughput
from dcellx.train.world import Losses


@dataclass
class FixedBatch:
    """overfit: the one batch (on the device), this process's part of it, and its targets."""

    full: Any
    part: Any
    y: np.ndarray

    @classmethod
    def of(cls, ctx: RunContext) -> FixedBatch:
        train, dev = ctx.data.train, ctx.dev
        full = train.batch(train.rows).to(dev)
        part = full if ctx.world.world == 1 else train.batch(ctx.world.shard(train.rows)).to(dev)
        return cls(full, part, train.z[train.rows].astype(np.float64))


def steps_per_epoch(ctx: RunContext) -> int:
    """Optimiser steps of one epoch: one in overfit, the usable minibatches in train."""
    if ctx.cfg.mode == "overfit":
        return 1
    n, bs = len(ctx.data.train.rows), ctx.cfg.batch_size
    k = math.ceil(n / bs)
    return k - 1 if k and not ctx.world.usable(n - (k - 1) * bs) else k


def epoch_samples(ctx: RunContext) -> int:
    """Rows one epoch trains on (a dropped single-row last minibatch not counted)."""
    n, k, bs = len(ctx.data.train.rows), steps_per_epoch(ctx), ctx.cfg.batch_size
    return n if ctx.cfg.mode == "overfit" else min(n, k * bs)


def steps_taken(ctx: RunContext, loop: dict[str, Any]) -> int:
    """``LoopState.steps`` of a checkpoint's ``loop``; derived from its position (completed
    epochs, steps into the next) where it was written before steps were counted."""
    if "steps" in loop:
        return int(loop["steps"])
    return int(loop["epoch"]) * steps_per_epoch(ctx) + int(loop.get("step", 0))


def planned_steps(ctx: RunContext) -> int:
    """Steps of the whole run: its epochs, or ``max_steps`` where that comes first."""
    planned = ctx.cfg.epochs * steps_per_epoch(ctx)
    return planned if ctx.cfg.max_steps is None else min(planned, ctx.cfg.max_steps)


def as_float64(losses: Losses, dev: torch.device) -> torch.Tensor:
    """A step's three losses as a float64 tensor on ``dev`` (exact: float32 and Python floats
    both widen to float64 without rounding)."""
    return torch.as_tensor(losses, dtype=torch.float64, device=dev)


def _accumulators(partial: dict[str, Any] | None, dev: torch.device) -> dict[str, Any]:
    """The epoch's running sums: fresh, or those a mid-epoch checkpoint saved (``_saved``: on the
    CPU, the loss sums as floats), moved to the device."""
    if partial is None:
        sums = torch.zeros(3, dtype=torch.float64, device=dev)
        return {"n": 0, "sums": sums, "pred": [], "y": []}
    return {
        "n": partial["n"],
        "sums": torch.tensor(partial["sums"], dtype=torch.float64, device=dev),
        "pred": [p.to(dev) for p in partial["pred"]],
        "y": list(partial["y"]),
    }


def _saved(acc: dict[str, Any]) -> dict[str, Any]:
    """``acc`` as a checkpoint keeps it (``LoopState.partial``): on the CPU, sums as floats."""
    return {
        "n": acc["n"],
        "sums": acc["sums"].tolist(),
        "pred": [torch.cat(acc["pred"]).cpu()],
        "y": [torch.cat(acc["y"])],
    }


def _minibatch(ctx: RunContext, rows: np.ndarray) -> Any:
    """Training rows as a batch on the device, its pairs padded to ``ctx.pairs`` where the
    run fixed them (``--cuda-graph``: ``dcellx.train.cuda_graph.fix_shapes``)."""
    return ctx.data.train.batch(rows, pairs=ctx.pairs).to(ctx.dev)


def overfit_epoch(
    ctx: RunContext,
    state: LoopState,
    fixed: FixedBatch,
    stop: StopSignals,
    epoch: int,
    alpha: float,
    l2: list[torch.Tensor],
) -> dict[str, Any]:
    mcfg, n = ctx.cfg.model, len(fixed.y)
    root, losses = ctx.world.step(ctx.net, ctx.opt, fixed.part, n, mcfg, alpha, l2)
    state.steps += 1
    stop.after_step(epoch, 1)
    if not ctx.writes:
        return {}
    p_train = root.double().cpu().numpy()
    ctx.model.eval()
    with torch.no_grad():
        p_eval = ctx.model(fixed.full)[0].double().cpu().numpy()
    read = tuple(as_float64(losses, ctx.dev).tolist())
    return epoch_row(read, p_train, fixed.y, p_eval, fixed.y)


def train_epoch(
    ctx: RunContext,
    state: LoopState,
    stop: StopSignals,
    epoch: int,
    alpha: float,
    l2: list[torch.Tensor],
    meter: Throughput | None = None,
) -> dict[str, Any] | None:
    """After a mid-epoch stop the accumulators are in ``state.partial`` and the position in
    ``state.step``; a resumed epoch continues from them. ``meter`` times every step (and while
    it measures, each step waits for the device to finish, so that its time is the step's)."""
    cfg, data, world = ctx.cfg, ctx.data, ctx.world
    split = data.train
    order = np.random.default_rng([cfg.seed, epoch]).permutation(split.rows)
    chunks = [order[i : i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
    if not world.usable(len(chunks[-1])):
        chunks.pop()  # BatchNorm cannot use the statistics of a single sample
    end = len(chunks)
    if cfg.max_steps is not None:  # the run's last step may fall inside this epoch
        end = min(end, state.step + max(cfg.max_steps - state.steps, 0))
    acc = _accumulators(state.partial, ctx.dev)
    for k in range(state.step, end):
        t0 = time.perf_counter()
        rows = chunks[k]
        batch = _minibatch(ctx, world.shard(rows))
        t_data = time.perf_counter() - t0  # building the batch: slicing the store's arrays
        root, losses = world.step(ctx.net, ctx.opt, batch, len(rows), cfg.model, alpha, l2)
        acc["n"] += len(rows)
        acc["sums"] += as_float64(losses, ctx.dev) * len(rows)
        acc["pred"].append(root.double())
        acc["y"].append(torch.from_numpy(split.z[rows]).double())
        state.steps += 1
        if meter is not None:
            if meter.timing:
                synchronize(ctx.dev)
            meter.add(time.perf_counter() - t0, len(rows), t_data)
            state.forecast = meter.forecast
        stop.after_step(epoch, k + 1)
        if stop.agreed() is not None and k + 1 < end:
            state.step, state.partial = k + 1, _saved(acc)
            return None
    if end < len(chunks):
        state.max_steps_reached = True
    if not ctx.writes:
        return {}
    p_train, y_train = torch.cat(acc["pred"]).cpu().numpy(), torch.cat(acc["y"]).numpy()
    val_rows = ctx.scored.get("val", data.val.rows)  # --score-sample: the run's fixed sample
    p_val = predict_split(ctx.model, data.val, val_rows, ctx.dev)
    y_val = data.val.z[val_rows].astype(np.float64)
    losses = tuple(s / acc["n"] for s in acc["sums"].tolist())
    row = epoch_row(losses, p_train, y_train, p_val, y_val)
    row["val_loss"] = float(np.mean((p_val - y_val) ** 2))
    return row
