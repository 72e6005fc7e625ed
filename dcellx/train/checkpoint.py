"""Checkpoints: ``checkpoint-last.pt`` (everything needed to resume) and ``weights-best.pt``.

Model tensors are stored under GO-term names (``DCell.term_state_dict``), so a checkpoint is
readable by term id and independent of the engine's packing. Files are written with ``torch.save``
to a temporary file in the run directory and renamed, and read with ``weights_only=True``.

This module owns the schema. ``checkpoint-last.pt``: ``format, epoch, loop`` (``LoopState`` as a
dict), ``model, optimizer, scheduler, rng``, then the run's identity ``config, variant,
ontology_hash, labels``. ``weights-best.pt``: ``format, model, epoch, pearson_eval_bn`` and the same
identity. ``Checkpoints`` builds and restores them for the training loop.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from dcellx import fileio
from dcellx.errors import InputError
from dcellx.train.metrics import read_metrics
from dcellx.train.rundir import atomic_write

if TYPE_CHECKING:
    from dcellx.train.best import BestWeights
    from dcellx.train.config import RunConfig
    from dcellx.train.context import RunContext

LAST = "checkpoint-last.pt"
BEST = "weights-best.pt"
FORMAT = 1


def save(path: Path, state: dict[str, Any]) -> None:
    """Atomically write ``state`` (a dict of tensors and plain Python values)."""
    atomic_write(path, lambda fh: fileio.torch_save({"format": FORMAT, **state}, fh))


def load(path: Path) -> dict[str, Any]:
    """Read a checkpoint onto the CPU; an unreadable file is an ``InputError``, not a traceback."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(path, None, "checkpoint not found") from None
    except Exception as exc:  # torch raises several types for a corrupt or foreign file
        raise InputError(path, None, f"not a readable dcellx checkpoint ({exc})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise InputError(path, None, "not a dcellx checkpoint (format mismatch)")
    return state


def keep_copy(path: Path, epoch: int) -> None:
    """``--keep-checkpoints all``: keep this checkpoint as ``checkpoint-e<epoch>.pt`` (a hard link
    where the filesystem allows, so keeping costs no second write)."""
    dest = path.with_name(f"checkpoint-e{epoch:05d}.pt")
    dest.unlink(missing_ok=True)
    try:
        os.link(path, dest)
    except OSError:
        atomic_write(dest, lambda fh: fh.write(Path(path).read_bytes()))


def rng_state() -> dict[str, Any]:
    """torch's CPU (and CUDA) generator states. The loop itself draws nothing from global RNGs
    (batch orders come from (seed, epoch)), but a model variant might."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def remove_stale_temps(run_dir: Path) -> None:
    """Temp files of writes a SIGKILL interrupted (never read; safe to delete: the caller holds
    the run's lock, so no live process writes here)."""
    fileio.remove_stale_temps(run_dir, every=True)


@dataclass
class LoopState:
    """Everything besides model/optimiser/scheduler that a resumed loop must continue from (the
    checkpoint's ``loop``)."""

    epoch: int = 0  # completed epochs
    step: int = 0  # train mode: steps already done in epoch + 1 (after a mid-epoch signal)
    best_pearson: float = -math.inf  # best eval-mode Pearson
    best_epoch: int = 0
    best_val_loss: float = math.inf
    bad_epochs: int = 0
    stopped_early: bool = False
    fit_streak: int = 0  # overfit: consecutive epochs with train-mode r >= fit_stop_pearson
    elapsed: float = 0.0  # training seconds before this process
    partial: dict[str, Any] | None = None  # train mode: the interrupted epoch's accumulators
    # optimiser steps taken in all (``max_steps`` counts these). A checkpoint written before the
    # field existed lacks it: ``dcellx.train.epochs.steps_taken`` derives it from the position.
    steps: int = 0
    max_steps_reached: bool = False  # the run ended at ``max_steps``, before its last epoch's end
    forecast: dict[str, Any] | None = None  # the throughput forecast (``dcellx.train.throughput``)


def load_own(path: Path, cfg: RunConfig, onto_hash: str) -> dict[str, Any]:
    """A checkpoint of this run, refused (one line) if it was written for another ontology or
    variant: its GO-term-named tensors would not fit the model (a ``KeyError`` otherwise)."""
    state = load(path)
    theirs = str(state.get("ontology_hash"))
    if theirs != onto_hash:
        raise InputError(
            path, None, f"checkpoint of another ontology (content hash {theirs[:12]}; this run's "
            f"{cfg.go!r} is {onto_hash[:12]}): it belongs to another run",
        )  # fmt: skip
    if state.get("variant") != cfg.variant:
        raise InputError(
            path, None, f"checkpoint of variant {state.get('variant')!r}, this run is "
            f"{cfg.variant!r}: it belongs to another run",
        )  # fmt: skip
    return state


def recorded_epochs(run_dir: Path) -> int:
    """The epochs ``metrics.csv`` records (0 when it is missing or holds only its header)."""
    try:
        return len(read_metrics(run_dir))
    except (OSError, ValueError):
        return 0


def refuse_lost_progress(run_dir: Path) -> None:
    """A run that recorded epochs (or best weights) but has no ``checkpoint-last.pt`` cannot be
    continued: resuming it would train from epoch 1 and overwrite its metrics and best weights.
    One error naming both, before anything is touched."""
    if (run_dir / LAST).exists():
        return
    epochs, best = recorded_epochs(run_dir), (run_dir / BEST).exists()
    if epochs or best:
        records = f"metrics.csv records {epochs} epoch(s)" if epochs else f"it holds {BEST}"
        raise InputError(
            run_dir, None, f"cannot resume: {records} but {LAST} is missing, so it would "
            "train again from epoch 1 over them; start a new run (or restore the checkpoint)",
        )  # fmt: skip


class Checkpoints:
    """The checkpoint files of one run. Only the main process writes; the others keep the same
    bookkeeping (``saved_epoch``) so that every process takes the same decisions."""

    def __init__(self, ctx: RunContext, best: BestWeights) -> None:
        self.ctx, self.best = ctx, best
        self.saved_epoch = -1

    def identity(self) -> dict[str, Any]:
        cfg, data = self.ctx.cfg, self.ctx.data
        return {
            "config": cfg.model_dump(mode="json"),
            "variant": cfg.variant,
            "ontology_hash": data.onto.content_hash,
            "labels": dataclasses.asdict(data.labels),
        }

    def best_payload(self, state: LoopState, model: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "model": self.best.term_state() if model is None else model,
            "epoch": state.best_epoch,
            "pearson_eval_bn": state.best_pearson,
            **self.identity(),
        }

    def last_payload(self, state: LoopState, model: dict[str, Any] | None = None) -> dict[str, Any]:
        ctx = self.ctx
        return {
            "epoch": state.epoch,
            "loop": dataclasses.asdict(state),
            "model": ctx.model.term_state_dict() if model is None else model,
            "optimizer": ctx.opt.state_dict(),
            "scheduler": None if ctx.sched is None else ctx.sched.state_dict(),
            "rng": rng_state(),
            **self.identity(),
        }

    def save_best(self, state: LoopState, model: dict[str, Any] | None = None) -> None:
        """``weights-best.pt``, if the best weights changed since it was written (``model``:
        their term-named state where the caller has it)."""
        if self.best.dirty:
            save(self.ctx.run_dir / BEST, self.best_payload(state, model))
            self.best.dirty = False

    def save(self, state: LoopState) -> None:
        """weights-best.pt (if it changed) then checkpoint-last.pt, each atomically."""
        ctx = self.ctx
        if ctx.writes:
            # At the end of the best epoch so far (the usual last save of a short run) the best
            # weights are the live ones: one term-named copy serves both files (~0.3-1 s each
            # on the full-GO paper model, besides the swap in and out of the best weights).
            live = self.best.dirty and state.best_epoch == state.epoch and state.step == 0
            model = ctx.model.term_state_dict() if live else None
            self.save_best(state, model)
            save(ctx.run_dir / LAST, self.last_payload(state, model))
        self.saved_epoch = state.epoch
        if ctx.writes and ctx.cfg.keep_checkpoints == "all" and state.step == 0:
            keep_copy(ctx.run_dir / LAST, state.epoch)

    def restore(self, ckpt: dict[str, Any]) -> LoopState:
        """Model, optimiser, scheduler and RNG state from ``ckpt`` (a ``checkpoint-last.pt``),
        and the best weights so far back into memory; the loop state to continue from."""
        ctx = self.ctx
        if (ctx.run_dir / BEST).exists():
            best = load_own(ctx.run_dir / BEST, ctx.cfg, ctx.data.onto.content_hash)
            ctx.model.load_term_state_dict(best["model"])
            self.best.capture()
            self.best.dirty = False
        ctx.model.load_term_state_dict(ckpt["model"])
        ctx.opt.load_state_dict(ckpt["optimizer"])
        if ctx.sched is not None:
            ctx.sched.load_state_dict(ckpt["scheduler"])
        set_rng_state(ckpt["rng"])
        state = LoopState(**ckpt["loop"])
        self.saved_epoch = state.epoch
        return state

    def finish(self, state: LoopState) -> None:
        """The files ``keep_checkpoints`` leaves at the end of a run (main process only)."""
        run_dir, keep = self.ctx.run_dir, self.ctx.cfg.keep_checkpoints
        if keep in ("last", "all") and self.saved_epoch != state.epoch:
            self.save(state)
        if keep in ("last", "all", "best"):
            self.save_best(state)
        if keep in ("best", "none"):
            (run_dir / LAST).unlink(missing_ok=True)
        if keep == "none":
            (run_dir / BEST).unlink(missing_ok=True)
