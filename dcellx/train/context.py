"""What one run's loop works with: config, data, model, optimiser, device, run directory, world.

Everything here is built before any file is written, so that a bad device, model or optimiser
setting leaves no run directory behind.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dcellx.errors import ConfigError, warn
from dcellx.nn.dcell import DCell
from dcellx.train.config import RunConfig
from dcellx.train.data import RunData
from dcellx.train.models import build_model
from dcellx.train.world import Local, World

Scheduler = torch.optim.lr_scheduler.LRScheduler  # ReduceLROnPlateau included


@dataclass
class RunContext:
    cfg: RunConfig
    data: RunData
    model: nn.Module  # the plain model: evaluation, checkpoints
    opt: torch.optim.Optimizer
    sched: Scheduler | None
    dev: torch.device
    run_dir: Path
    world: World = field(default_factory=Local)
    # the module optimiser steps go through: ``world.wrap(model)`` once the checkpoint is loaded
    # (DistributedDataParallel broadcasts rank 0's weights when it wraps)
    net: nn.Module | None = None
    # the rows each split is scored on (``--score-sample``; ``dcellx.train.evaluate.score_rows``)
    scored: dict[str, np.ndarray] = field(default_factory=dict)
    # the pair count training minibatches are padded to (``--cuda-graph``: ``fix_shapes``)
    pairs: int | None = None

    @property
    def writes(self) -> bool:
        """Only the main process writes the run directory."""
        return self.world.is_main


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity: a SLURM task's allocation, a cgroup's
    cpuset), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def set_threads(cfg: RunConfig) -> None:
    """torch's thread count from the config. More threads than available CPUs is allowed (it is
    recorded and fixes the arithmetic) but said: each thread then waits for a CPU, and a step
    can take many times longer."""
    if cfg.threads is not None and cfg.threads > (cpus := available_cpus()):
        warn(
            f"--threads {cfg.threads} is more than the {cpus} CPUs available to this process: "
            "expect a much slower run (the same --threads keeps its results reproducible)"
        )
    torch.set_num_threads(cfg.threads or torch.get_num_threads())


def check_device(device: str) -> torch.device:
    """``device`` as a torch device that is usable here, or one ``ConfigError``."""
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise ConfigError(
            f"device {str(device)[:40]!r}: not a torch device (cpu, cuda, cuda:N, mps)"
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r}: CUDA is not available here")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"device {device!r}: MPS is not available here")
    return dev


def synchronize(dev: torch.device) -> None:
    """Wait until ``dev`` has finished the work queued on it (CUDA runs asynchronously to the
    host; the CPU computes in place, so there is nothing to wait for)."""
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def make_scheduler(cfg: RunConfig, opt: torch.optim.Optimizer) -> Scheduler | None:
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs, eta_min=cfg.min_lr)
    if cfg.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode="min", factor=cfg.plateau_factor, patience=cfg.plateau_patience,
            min_lr=cfg.min_lr,
        )  # fmt: skip
    return None


def build_training(
    cfg: RunConfig, data: RunData, dev: torch.device
) -> tuple[nn.Module, torch.optim.Optimizer, Scheduler | None]:
    """The model on ``dev``, its Adam optimiser and its scheduler.

    Under ``precision="bf16"`` a DCell is built on the autograd engine, with the reason in its
    ``engine_note`` (``config.json``): the fused engine's hand-written backward is float32 and
    does not run under autocast (``dcellx.train.precision``). Under ``cuda_graph`` Adam is
    ``capturable`` (its step count and bias corrections stay on the device, so its step can be
    captured and replayed; ``dcellx.train.cuda_graph``)."""
    engine, note = cfg.engine, None
    if cfg.precision == "bf16" and engine != "autograd":
        engine = "autograd"
        note = (
            f"the {cfg.engine} engine does not run under bf16 autocast (its hand-written "
            "backward is float32); running on autograd"
        )
    model = build_model(
        data.onto,
        cfg.model,
        cfg.variant,
        cfg.seed,
        data.model_pairs(cfg.variant),
        engine,
        cfg.buckets,
    )
    if note is not None and isinstance(model, DCell):
        model.engine_note = note
    model.to(dev)
    # fused Adam: one kernel per parameter tensor; the foreach version costs 0.19 s instead of
    # 0.04 s per step on the 70 M parameters of the full-GO paper model (memory-bound either way)
    fused = dev.type in ("cpu", "cuda")
    opt = torch.optim.Adam(
        model.parameters(), lr=cfg.lr, betas=cfg.betas, fused=fused, capturable=cfg.cuda_graph
    )
    return model, opt, make_scheduler(cfg, opt)
