"""One planned point of a sweep directory, run so that running it again is always safe.

This is what each SLURM array task calls (``dcellx sweep-run <sweep-dir> --point I``). The sweep's
``sweep.json`` is the single source of truth for the point's config; its run directory is found by
matching resolved configs, exactly as ``dcellx compare --collect`` matches them. So a task that
SLURM requeues after preemption or a time-limit warning continues where it stopped:

* the point already has a finished run (``summary.json``): nothing to do;
* it has an unfinished run: ``resume`` it (from ``checkpoint-last.pt``; from scratch in the same
  directory if none was written), which is what ``dcellx train --resume`` does;
* it has none: start a fresh run in the sweep directory.

Each case prints one line to the task's log (``resuming <run> from epoch N`` ...), so a log shows
every attempt. Under ``--ddp`` rank 0 decides and tells the others. ``dcellx compare`` into an
existing ``--sweep-dir`` takes the same decisions (``dcellx.train.sweep_points``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from dcellx.errors import ConfigError
from dcellx.scale.ddp import session
from dcellx.train.compare import PLAN, SweepPlan
from dcellx.train.loop import RunResult
from dcellx.train.rundir import read_json
from dcellx.train.sweep_points import (  # noqa: F401 -- slurm and tests import them from here
    PointAction,
    act,
    checkpoint_epoch,
    decide,
    point_label,
    point_runs,
)


def load_plan(sweep_dir: str | Path) -> SweepPlan:
    path = Path(sweep_dir) / PLAN
    if not path.is_file():
        raise ConfigError(f"{sweep_dir}: not a sweep directory (no {PLAN})")
    return SweepPlan.model_validate(read_json(path))


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
    cfg = plan.config(points[index], sweep_dir)

    def line(text: str) -> None:
        say(text, highlight=False, soft_wrap=True)

    return act(action, cfg, line, label, console, quiet, comm)


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
