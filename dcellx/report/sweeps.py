"""The report's one reuse-or-run helper: a sweep directory filled point by point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dcellx.errors import DcellxError
from dcellx.scale.task import run_point
from dcellx.train.compare import PLAN, SweepResult, collect, plan_sweep, run_sweep


def sweep(
    plan: Any, name: str, variants, grid, spec, runs_dir: Path, console, run: bool = True
) -> SweepResult:
    """Run a sweep into ``runs_dir/name``, point by point as a SLURM task would: a finished point
    is skipped, an interrupted one resumed from its checkpoint, a missing one started. So a report
    killed half-way continues where it stopped. ``plan`` is a ``ReportPlan`` or ``UsersPlan``."""
    sweep_dir = runs_dir / name
    sp = plan_sweep(variants, plan.seeds, "overfit", grid, spec)
    if not run:  # report what is there; nothing runs
        if not (sweep_dir / PLAN).exists():
            return SweepResult(sweep_dir, list(grid), [], [], sp.points(), [])
        return collect(sweep_dir)
    if sweep_dir.exists():
        done = collect(sweep_dir)
        if not done.missing and not done.failed:
            console.print(f"reusing {sweep_dir}")
            return done
    n = len(sp.points())
    console.print(f"[bold]sweep {name}[/]: {n} runs")
    run_sweep(sp, sweep_dir=sweep_dir, points=[], quiet=True, console=console)  # writes the plan
    for i in range(n):
        try:
            run_point(sweep_dir, i, quiet=True, console=console)
        except (DcellxError, RuntimeError) as exc:  # reported, the sweep goes on (as run_sweep)
            console.print(f"[red]{name} point {i} failed: {type(exc).__name__}: {exc}[/red]")
    return collect(sweep_dir)
