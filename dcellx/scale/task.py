"""One planned point of a sweep directory, run so that running it again is always safe.

This is what each SLURM array task calls (``dcellx sweep-run <sweep-dir> --point I``). The sweep's
``sweep.json`` is the single source of truth for the point's config; its run directory is found by
matching resolved configs, exactly as ``dcellx compare --collect`` matches them. So a task that
SLURM requeues after preemption or a time-limit warning continues where it stopped:

* the point already has a finished run (``summary.json``): nothing to do;
* it has an unfinished run: ``resume`` it (from ``checkpoint-last.pt``; from scratch in the same
  directory if none was written yet), which is what ``dcellx train --resume`` does;
* it has none: start a fresh run in the sweep directory.

Each case prints one line to the task's log (``resuming <run> from epoch N`` ...), so a log shows
every attempt. Under ``--ddp`` rank 0 decides and tells the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

from dcellx.errors import ConfigError
from dcellx.scale.ddp import session
from dcellx.train.checkpoint import LAST
from dcellx.train.compare import PLAN, SweepPlan, _point_key
from dcellx.train.loop import RunResult, resume, run
from dcellx.train.rundir import read_json


def load_plan(sweep_dir: str | Path) -> SweepPlan:
    path = Path(sweep_dir) / PLAN
    if not path.is_file():
        raise ConfigError(f"{sweep_dir}: not a sweep directory (no {PLAN})")
    return SweepPlan.model_validate(read_json(path))


def point_label(point: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in point.items())


def point_runs(sweep_dir: str | Path, plan: SweepPlan) -> list[list[Path]]:
    """For each planned point (in ``plan.points()`` order), its run directories, oldest first."""
    sweep_dir = Path(sweep_dir)
    grid_keys = list(plan.grid)
    by_key: dict[str, list[Path]] = {}
    for cfg_path in sorted(sweep_dir.glob("*/config.json")):
        key = _point_key(read_json(cfg_path)["run"], grid_keys)
        by_key.setdefault(key, []).append(cfg_path.parent)
    out = []
    for point in plan.points():
        key = _point_key(plan.config(point, sweep_dir).model_dump(mode="json"), grid_keys)
        out.append(by_key.get(key, []))
    return out


def checkpoint_epoch(run_dir: Path) -> int | None:
    """The epoch of ``checkpoint-last.pt`` without reading its tensors (memory-mapped)."""
    path = run_dir / LAST
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # a corrupt file: resume will report it properly
        return None
    return int(state.get("epoch", 0))


@dataclass
class PointAction:
    """What a task does for its point: ``done`` (finished run), ``resume`` or ``new``."""

    kind: str
    run_dir: Path | None = None
    epoch: int | None = None  # the checkpoint's epoch when resuming


def decide(sweep_dir: str | Path, plan: SweepPlan, index: int) -> PointAction:
    runs = point_runs(sweep_dir, plan)[index]
    finished = [r for r in runs if (r / "summary.json").is_file()]
    if finished:
        return PointAction("done", finished[-1])
    if not runs:
        return PointAction("new")
    # prefer the attempt that got furthest (by checkpoint epoch), then the latest
    best = max(runs, key=lambda r: (checkpoint_epoch(r) or -1, r.name))
    return PointAction("resume", best, checkpoint_epoch(best))


def run_point(
    sweep_dir: str | Path,
    index: int,
    comm: Any = None,
    quiet: bool = False,
    console: Console | None = None,
) -> RunResult:
    """Run, resume or skip point ``index`` of ``sweep_dir`` (see the module docstring)."""
    console = console or Console()
    sweep_dir = Path(sweep_dir).resolve()
    plan = load_plan(sweep_dir)
    points = plan.points()
    if not 0 <= index < len(points):
        raise ConfigError(f"--point {index} out of range: the plan has {len(points)} points")
    main = comm is None or comm.is_main
    action = decide(sweep_dir, plan, index) if main else None
    if comm is not None:
        action = comm.from_main(action)
    say = console.print if main else (lambda *a, **k: None)
    label = f"point {index} ({point_label(points[index])})"
    if action.kind == "done":
        say(f"{label}: already finished in {action.run_dir}", highlight=False, soft_wrap=True)
        return RunResult(action.run_dir, read_json(action.run_dir / "summary.json"))
    if action.kind == "resume":
        where = f"epoch {action.epoch}" if action.epoch is not None else "scratch (no checkpoint)"
        say(f"{label}: resuming {action.run_dir} from {where}", highlight=False, soft_wrap=True)
        return resume(action.run_dir, console=console, quiet=quiet, comm=comm)
    say(f"{label}: starting a new run in {sweep_dir}", highlight=False, soft_wrap=True)
    cfg = plan.config(points[index], sweep_dir)
    cfg.quiet = quiet
    return run(cfg, console=console, comm=comm)


def run_task(
    sweep_dir: str | Path,
    index: int,
    ddp: bool = False,
    sync_bn: bool = False,
    quiet: bool = False,
    console: Console | None = None,
) -> tuple[RunResult, bool]:
    """``run_point`` inside a ``--ddp`` process group when asked (the device is the point's own);
    returns the result and whether this process is rank 0 (the one that reports)."""
    plan = load_plan(sweep_dir)
    points = plan.points()
    device = plan.config(points[index], sweep_dir).device if 0 <= index < len(points) else "cpu"
    with session(ddp, sync_bn, device=device) as comm:
        result = run_point(sweep_dir, index, comm, quiet, console)
        return result, comm is None or comm.is_main
