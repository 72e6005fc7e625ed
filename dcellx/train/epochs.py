"""The two kinds of epoch. Each returns the epoch's metrics row (``{}`` on processes other than the
main one, which scores for all) or, in train mode, ``None`` when a signal stopped it mid-epoch.

``overfit``: one optimiser step on the fixed batch, whose own forward pass gives the
train-mode-BatchNorm predictions (so running statistics move once per step), then a separate
no-grad eval-mode forward on the same batch (running statistics).

``train``: the training split in minibatches whose order depends only on (seed, epoch), so a
resumed run needs no RNG state to replay it; eval-mode metrics are on the validation split.
Under ``--ddp`` every process walks the same global batches and steps on its part of each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dcellx.train.checkpoint import LoopState
from dcellx.train.context import RunContext
from dcellx.train.evaluate import epoch_row, predict_split
from dcellx.train.signals import StopSignals


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


def overfit_epoch(
    ctx: RunContext,
    fixed: FixedBatch,
    stop: StopSignals,
    epoch: int,
    alpha: float,
    l2: list[torch.Tensor],
) -> dict[str, Any]:
    mcfg, n = ctx.cfg.model, len(fixed.y)
    root, losses = ctx.world.step(ctx.net, ctx.opt, fixed.part, n, mcfg, alpha, l2)
    stop.after_step(epoch, 1)
    if not ctx.writes:
        return {}
    p_train = root.double().cpu().numpy()
    ctx.model.eval()
    with torch.no_grad():
        p_eval = ctx.model(fixed.full)[0].double().cpu().numpy()
    return epoch_row(losses, p_train, fixed.y, p_eval, fixed.y)


def train_epoch(
    ctx: RunContext,
    state: LoopState,
    stop: StopSignals,
    epoch: int,
    alpha: float,
    l2: list[torch.Tensor],
) -> dict[str, Any] | None:
    """After a mid-epoch stop the accumulators are in ``state.partial`` and the position in
    ``state.step``; a resumed epoch continues from them."""
    cfg, data, world = ctx.cfg, ctx.data, ctx.world
    split = data.train
    order = np.random.default_rng([cfg.seed, epoch]).permutation(split.rows)
    chunks = [order[i : i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
    if not world.usable(len(chunks[-1])):
        chunks.pop()  # BatchNorm cannot use the statistics of a single sample
    acc = state.partial or {"n": 0, "sums": [0.0, 0.0, 0.0], "pred": [], "y": []}
    for k in range(state.step, len(chunks)):
        rows = chunks[k]
        batch = split.batch(world.shard(rows)).to(ctx.dev)
        root, losses = world.step(ctx.net, ctx.opt, batch, len(rows), cfg.model, alpha, l2)
        acc["n"] += len(rows)
        acc["sums"] = [s + v * len(rows) for s, v in zip(acc["sums"], losses, strict=True)]
        acc["pred"].append(root.double().cpu())
        acc["y"].append(torch.from_numpy(split.z[rows]).double())
        stop.after_step(epoch, k + 1)
        if stop.agreed() is not None and k + 1 < len(chunks):
            acc["pred"], acc["y"] = [torch.cat(acc["pred"])], [torch.cat(acc["y"])]
            state.step, state.partial = k + 1, acc
            return None
    if not ctx.writes:
        return {}
    p_train, y_train = torch.cat(acc["pred"]).numpy(), torch.cat(acc["y"]).numpy()
    p_val = predict_split(ctx.model, data.val, data.val.rows, ctx.dev)
    y_val = data.val.z[data.val.rows].astype(np.float64)
    losses = tuple(s / acc["n"] for s in acc["sums"])
    row = epoch_row(losses, p_train, y_train, p_val, y_val)
    row["val_loss"] = float(np.mean((p_val - y_val) ** 2))
    return row
