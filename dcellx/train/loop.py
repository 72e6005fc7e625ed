"""The training loop: ``run(cfg)`` (a fresh run directory) and ``resume(run_dir)``.

``overfit`` fits one fixed batch, one optimiser step per epoch; "best" is eval-mode Pearson.
``train`` fits a seeded train/val split of the training file; the validation root MSE drives early
stopping and the plateau scheduler, and the dataset's own test file is scored once, with the best
weights (``--score-sample``: on a fixed seeded sample of each split). ``max_steps`` ends either
mode after that many optimiser steps in all. The epochs themselves are in
``dcellx.train.epochs``; ``train`` prints a throughput forecast after its first steps
(``dcellx.train.throughput``).

Determinism: the model is initialised from ``init_term_state(seed)``, nothing else draws random
numbers, and torch's thread count is fixed from the config: the same config gives the same
``metrics.csv`` on CPU, and a killed run resumed from its checkpoint gives the same file too.

Under ``--ddp`` the caller passes its ``DDPContext`` as ``comm``; it becomes the run's ``World``
here, once (``stepping_world``: ``--cuda-graph``), and the loop below reads the same for one
process or many. ``numerics`` (TF32, deterministic) hold from before the model is built until the
run returns; bf16 steps go through ``autocast_forward`` (``dcellx.train.precision``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from dcellx.errors import ConfigError, InputError
from dcellx.nn.loss import alpha_at
from dcellx.train import checkpoint
from dcellx.train.best import BestWeights
from dcellx.train.checkpoint import LAST, Checkpoints, LoopState, refuse_lost_progress
from dcellx.train.config import RunConfig, load_run_config, resume_changes
from dcellx.train.context import RunContext, build_training, check_device, set_threads
from dcellx.train.cuda_graph import fix_shapes, stepping_world
from dcellx.train.data import load_run_data
from dcellx.train.epochs import (
    FixedBatch,
    epoch_samples,
    overfit_epoch,
    planned_steps,
    steps_per_epoch,
    steps_taken,
    train_epoch,
)
from dcellx.train.evaluate import score_rows, score_splits, scoring_record
from dcellx.train.metadata import resolved_config
from dcellx.train.metrics import COLUMNS, TRAIN_COLUMNS, MetricsLog
from dcellx.train.plots import draw_curves
from dcellx.train.precision import autocast_forward, numerics
from dcellx.train.progress import EpochProgress
from dcellx.train.rundir import (
    create_run_dir,
    environment,
    read_json,
    recipe_sources,
    run_lock,
    write_json,
)
from dcellx.train.signals import RunInterrupted, StopSignals
from dcellx.train.summary import summarize
from dcellx.train.throughput import Throughput
from dcellx.train.trackers import Trackers, check_installed
from dcellx.train.world import Local, World

__all__ = ["RunInterrupted", "RunResult", "resume", "run"]


@dataclass
class RunResult:
    run_dir: Path
    summary: dict[str, Any]


class _MemoryLog:
    """The metrics log of a process that writes nothing (``--ddp``, rank > 0)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append(row)

    def close(self) -> None:
        pass


def _lock(world: World, run_dir: Path) -> AbstractContextManager[Any]:
    """The main process holds the run directory; the others follow it."""
    return run_lock(run_dir) if world.is_main else nullcontext()


# -- entry points ------------------------------------------------------------------------------
def run(cfg: RunConfig, console: Console | None = None, comm: World | None = None) -> RunResult:
    """Train ``cfg`` into a new run directory under ``cfg.runs_dir``. ``comm``: a
    ``dcellx.scale.ddp.DDPContext`` (``--ddp``); rank 0 creates and writes the directory."""
    world = stepping_world(cfg, Local() if comm is None else comm)
    check_installed(cfg.log)
    set_threads(cfg)
    dev = check_device(cfg.device)
    with numerics(cfg, dev) as applied:  # before CUDA is first used
        data = load_run_data(cfg)  # every input error surfaces before a run directory exists
        model, opt, sched = build_training(cfg, data, dev)  # and every model or optimiser error
        run_dir = None
        if world.is_main:
            config = resolved_config(cfg, data, model)
            config["numerics"] = applied
            if (launch := world.describe()) is not None:
                config["distributed"] = launch
            sources = recipe_sources(data.onto.meta)
            env = environment(data.onto.content_hash, cfg.data, cfg.test_data, sources)
            # written together; a directory whose files cannot be written is removed again
            files = {"config.json": config, "env.json": env}
            run_dir = create_run_dir(cfg.runs_dir, cfg.variant, cfg.seed, files)
        run_dir = world.from_main(run_dir)
        with _lock(world, run_dir):
            ctx = RunContext(cfg, data, model, opt, sched, dev, run_dir, world)
            return _fit(ctx, None, console)


def resume(
    run_dir: str | Path,
    console: Console | None = None,
    quiet: bool | None = None,
    comm: World | None = None,
    mode: str | None = None,
    flags: dict[str, Any] | None = None,
    restart: bool = False,
) -> RunResult:
    """Continue ``run_dir`` from ``checkpoint-last.pt`` (from scratch if it has none yet and has
    recorded no epoch), with any world size under ``--ddp`` (``comm``: every rank reads the
    checkpoint). A run another live process holds (``run.lock``) is refused, and so is one
    whose records show progress without a checkpoint (``refuse_lost_progress``) unless
    ``restart`` (a sweep's own attempt, which it may redo). ``mode`` and ``flags``
    (``preset``, ``model``, ``ontology``, ``fields``, ``sets``, as ``make_run_config`` takes
    them) are what the command line gave: one that contradicts the run is refused, a longer
    ``epochs`` is applied (``resume_changes``)."""
    run_dir = Path(run_dir)
    world = Local() if comm is None else comm
    if not (run_dir / "config.json").is_file():
        raise InputError(run_dir, None, "not a run directory (no config.json)")
    changes: dict[str, Any] = {}
    if mode is not None or flags is not None:  # the command line's view of the run: checked
        recorded = load_run_config(read_json(run_dir / "config.json")["run"])
        changes = resume_changes(recorded, run_dir, mode, **(flags or {}))
    if (run_dir / "summary.json").is_file():
        if changes:
            given = ", ".join("--" + k.replace("_", "-") for k in changes)
            raise ConfigError(f"{run_dir} has finished (summary.json): {given} cannot change it")
        return RunResult(run_dir, read_json(run_dir / "summary.json"))  # already finished
    with _lock(world, run_dir):  # a live holder is named first, then what the files say
        if not restart:
            refuse_lost_progress(run_dir)
        return _resume(run_dir, console, quiet, world, changes)


def _apply_changes(
    cfg: RunConfig,
    changes: dict[str, Any],
    loop: dict[str, Any],
    run_dir: Path,
    config: dict | None,
    console: Console | None,
) -> RunConfig:
    """The ``resume_changes`` a resumed run takes: checked against its state (``loop``, the
    checkpoint's ``LoopState`` with ``steps`` filled in), recorded in ``config.json``
    (``config`` is ``None`` on ranks that write nothing) and said."""
    done, steps = int(loop.get("epoch", 0)), int(loop.get("steps", 0))
    if "epochs" in changes:
        n = changes["epochs"]
        if cfg.scheduler == "cosine":
            raise ConfigError(
                f"--epochs {n}: the cosine schedule of {run_dir} spans its {cfg.epochs} planned "
                "epochs and cannot change on --resume"
            )
        if n < done:
            raise ConfigError(f"--epochs {n}: {run_dir} has already completed {done} epochs")
    if "max_steps" in changes:
        n = changes["max_steps"]
        if loop.get("max_steps_reached"):
            raise ConfigError(
                f"--max-steps {n}: {run_dir} already ended at its max_steps {cfg.max_steps}"
            )
        if n < steps:
            raise ConfigError(f"--max-steps {n}: {run_dir} has already taken {steps} steps")
    said = ", ".join(f"{k} {getattr(cfg, k)} -> {v}" for k, v in changes.items())
    cfg = cfg.model_copy(update=changes)  # values validated by resume_changes
    if config is not None:
        config["run"].update(cfg.model_dump(mode="json", include=set(changes)))
        write_json(run_dir / "config.json", config)
        if console is not None:
            line = f"{run_dir}: resuming with {said} (config.json updated)"
            console.print(line, highlight=False, soft_wrap=True)
    return cfg


def _resume(
    run_dir: Path,
    console: Console | None,
    quiet: bool | None,
    world: World,
    changes: dict[str, Any],
) -> RunResult:
    config = read_json(run_dir / "config.json")
    cfg = load_run_config(config["run"])
    if quiet is not None:
        cfg.quiet = quiet
    world = stepping_world(cfg, world)
    set_threads(cfg)
    dev = check_device(cfg.device)
    with numerics(cfg, dev):  # as config.json's numerics recorded them
        data = load_run_data(cfg)
        if data.onto.content_hash != config["ontology"]["content_hash"]:
            raise ConfigError(
                f"ontology {cfg.go!r} now compiles to {data.onto.content_hash[:12]}, the run was "
                f"trained on {config['ontology']['content_hash'][:12]}: its inputs changed"
            )
        model, opt, sched = build_training(cfg, data, dev)
        if world.is_main:
            checkpoint.remove_stale_temps(run_dir)
        has_ckpt = (run_dir / LAST).exists()
        onto_hash = data.onto.content_hash
        ckpt = checkpoint.load_own(run_dir / LAST, cfg, onto_hash) if has_ckpt else None
        ctx = RunContext(cfg, data, model, opt, sched, dev, run_dir, world)
        if ckpt is not None:  # a checkpoint from before steps were counted: from its position
            ckpt["loop"]["steps"] = steps_taken(ctx, ckpt["loop"])
        if changes:
            loop = {} if ckpt is None else ckpt["loop"]
            ctx.cfg = _apply_changes(
                cfg, changes, loop, run_dir, config if world.is_main else None, console
            )
        return _fit(ctx, ckpt, console)


# -- the loop ----------------------------------------------------------------------------------
def _fit(ctx: RunContext, ckpt: dict[str, Any] | None, console: Console | None) -> RunResult:
    """Epochs from ``ckpt`` (or the start) to the end, an early stop or a signal."""
    cfg, model, world, run_dir = ctx.cfg, ctx.model, ctx.world, ctx.run_dir
    best = BestWeights(model)
    ckpts = Checkpoints(ctx, best)
    state = LoopState() if ckpt is None else ckpts.restore(ckpt)
    resuming = ckpt is not None or (run_dir / "metrics.csv").exists()
    columns = TRAIN_COLUMNS if cfg.mode == "train" else COLUMNS
    if ctx.writes:
        log = MetricsLog(run_dir, columns, resume_epoch=state.epoch if resuming else None)
    else:
        log = _MemoryLog()
    l2 = model.l2_parameters()
    world.check_batch_size(cfg.batch_size)
    # after the checkpoint is loaded: DDP broadcasts rank 0's state
    ctx.net = autocast_forward(world.wrap(model), cfg, ctx.dev)
    ctx.pairs = fix_shapes(ctx) if cfg.cuda_graph else None  # the graphs' training shapes
    fixed = FixedBatch.of(ctx) if cfg.mode == "overfit" else None
    ctx.scored = score_rows(ctx.data, cfg.score_sample, cfg.seed)
    title = f"{cfg.mode} {cfg.variant} s{cfg.seed}"
    quiet = cfg.quiet or not ctx.writes
    per_epoch, planned = steps_per_epoch(ctx), planned_steps(ctx)
    epochs = min(cfg.epochs, math.ceil(planned / max(per_epoch, 1)))  # what --max-steps leaves
    progress = EpochProgress(title, epochs, state.epoch, quiet, console)
    meter = None
    if cfg.mode == "train":
        say = None if quiet else _say(progress.console)
        meter = Throughput(
            epoch_samples(ctx), per_epoch, planned, state.steps, say, forecast=state.forecast
        )
    # A full-GO snapshot costs ~30 ms; skip it where nothing would use it (an overfit sweep run).
    keep_best = ctx.writes and not (cfg.mode == "overfit" and cfg.keep_checkpoints == "none")
    trackers = Trackers(cfg.log if ctx.writes else [], run_dir, state.epoch + 1)
    t0 = last_ckpt = time.perf_counter()
    try:
        with StopSignals.from_env(world.agree_signal, world.is_main) as stop:
            ended = state.stopped_early or state.max_steps_reached
            last_epoch = state.epoch if ended else cfg.epochs
            for epoch in range(state.epoch + 1, last_epoch + 1):
                if _steps_spent(cfg, state):  # max_steps came at the end of the last epoch
                    state.max_steps_reached = True
                    break
                lr = ctx.opt.param_groups[0]["lr"]  # the rate this epoch's steps use
                alpha = alpha_at(cfg.model, epoch - 1)
                if fixed is not None:
                    row = overfit_epoch(ctx, state, fixed, stop, epoch, alpha, l2)
                else:
                    row = train_epoch(ctx, state, stop, epoch, alpha, l2, meter)
                if row is None:  # a signal arrived mid-epoch: save the position and stop
                    state.elapsed += time.perf_counter() - t0
                    ckpts.save(state)
                    raise RunInterrupted(stop.signum, run_dir)
                row = world.from_main(row)  # the main process's scores decide for all
                stop.agreed()
                row.update(epoch=epoch, lr=lr, seconds=state.elapsed + time.perf_counter() - t0)
                log.append(row)
                trackers.log(log.rows[-1])
                r = row["pearson_eval_bn"]
                if math.isfinite(r) and (state.best_epoch == 0 or r > state.best_pearson):
                    state.best_pearson, state.best_epoch = r, epoch
                    if keep_best:
                        best.capture()
                # overfit has no validation split: the plateau scheduler watches the training loss
                monitored = row["val_loss"] if cfg.mode == "train" else row["loss_total"]
                _step_scheduler(ctx, monitored)
                _update_stopping(cfg, state, row, monitored)
                state.epoch, state.step, state.partial = epoch, 0, None
                progress.update(epoch, row, state.best_pearson, state.best_epoch)
                now = time.perf_counter()
                due = _checkpoint_due(cfg, epoch, now - last_ckpt)
                if stop.signum is not None or due:
                    state.elapsed += now - t0
                    ckpts.save(state)
                    t0 = last_ckpt = time.perf_counter()  # checkpoint writes are not training
                if stop.signum is not None:
                    raise RunInterrupted(stop.signum, run_dir)
                if state.stopped_early or state.max_steps_reached:
                    break
    finally:
        progress.close()
        log.close()
        trackers.close()
    state.elapsed += time.perf_counter() - t0
    return _finish(ctx, ckpts, state, log.rows, meter)


def _say(console: Console) -> Callable[[str], None]:
    return lambda line: console.print(line, highlight=False, markup=False, soft_wrap=True)


def _steps_spent(cfg: RunConfig, state: LoopState) -> bool:
    """``max_steps`` taken, with no interrupted epoch left to score."""
    return cfg.max_steps is not None and state.steps >= cfg.max_steps and state.partial is None


def _step_scheduler(ctx: RunContext, monitored: float) -> None:
    if ctx.cfg.scheduler == "plateau":
        ctx.sched.step(monitored)
    elif ctx.sched is not None:
        ctx.sched.step()


def _update_stopping(cfg: RunConfig, state: LoopState, row: dict[str, Any], monitored: float):
    """Early stopping: train mode on the validation loss, overfit on a train-mode Pearson
    streak (``fit_stop_pearson``)."""
    if cfg.mode == "train":
        if monitored < state.best_val_loss:
            state.best_val_loss, state.bad_epochs = monitored, 0
        else:
            state.bad_epochs += 1
        state.stopped_early = state.bad_epochs >= cfg.early_stopping_patience
    elif cfg.fit_stop_pearson is not None:
        fit = row["pearson_train_bn"] >= cfg.fit_stop_pearson
        state.fit_streak = state.fit_streak + 1 if fit else 0
        state.stopped_early = state.fit_streak >= cfg.fit_stop_epochs


def _checkpoint_due(cfg: RunConfig, epoch: int, since_last: float) -> bool:
    """A periodic checkpoint: every ``checkpoint_every`` epochs, else ``checkpoint_seconds``."""
    if cfg.keep_checkpoints == "none":
        return False
    if cfg.checkpoint_every:
        return epoch % cfg.checkpoint_every == 0
    return since_last >= cfg.checkpoint_seconds


def _finish(
    ctx: RunContext,
    ckpts: Checkpoints,
    state: LoopState,
    rows: list[dict],
    meter: Throughput | None,
) -> RunResult:
    """Final checkpoint per ``keep_checkpoints``, test metrics, summary.json, curves.png."""
    cfg, run_dir, model = ctx.cfg, ctx.run_dir, ctx.model
    if not ctx.writes:  # --ddp: the main process writes and scores
        return RunResult(run_dir, {})
    ckpts.finish(state)
    params = read_json(run_dir / "config.json")["model"]["params"]  # counted once, at the start
    summary = summarize(rows, cfg, state, params)
    summary["run_id"] = run_dir.name
    summary["ontology_content_hash"] = ctx.data.onto.content_hash
    if cfg.mode == "train":
        if ckpts.best.state is not None:
            model.load_state_dict(ckpts.best.state)  # score the weights validation chose
        # metrics.{train,val,test}.{pearson,spearman,mse,r2,n}; test_* kept flat for compare.csv
        summary["metrics"] = score_splits(model, ctx.data, ctx.dev, ctx.scored)
        summary["scoring"] = scoring_record(ctx.data, ctx.scored, cfg.score_sample)
        summary["split"] = ctx.data.split
        summary.update({f"test_{k}": v for k, v in summary["metrics"].get("test", {}).items()})
    if meter is not None:
        summary["throughput"] = meter.record(summary["seconds"], len(rows))
    write_json(run_dir / "summary.json", summary)
    title = f"{run_dir.name}  ({cfg.go}, {cfg.data}, batch {cfg.batch_size})"
    if rows:
        draw_curves(rows, run_dir / "curves.png", title)
    return RunResult(run_dir, summary)
