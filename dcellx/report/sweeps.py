"""The report's one reuse-or-run helper: a sweep directory filled point by point."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from dcellx.errors import DcellxError, InputError
from dcellx.fileio import read_text
from dcellx.scale.task import run_point
from dcellx.train.compare import PLAN, SweepResult, collect, plan_sweep, run_sweep


def sweep(
    plan: Any,
    name: str,
    variants,
    grid,
    spec,
    runs_dir: Path,
    console,
    run: bool = True,
    mode: str = "overfit",
    seeds: list[int] | None = None,
) -> SweepResult:
    """Run a sweep into ``runs_dir/name``, point by point as a SLURM task would: a finished point
    is skipped, an interrupted one resumed from its checkpoint, a missing one started. So a report
    killed half-way continues where it stopped. ``plan`` is a ``ReportPlan`` or ``UsersPlan``;
    ``seeds`` (default: the plan's) and ``mode`` (overfit or train) are the sweep's own.

    A sweep directory kept with its tables only (``compare.csv`` without its runs and plan, as
    ``docs/example-report/sweeps`` keeps them) counts as done: it is read, never run again, so a
    report regenerated there runs only the sweeps it has no table of."""
    sweep_dir = runs_dir / name
    sp = plan_sweep(variants, plan.seeds if seeds is None else seeds, mode, grid, spec)
    kept_table = not (sweep_dir / PLAN).exists() and (sweep_dir / "compare.csv").exists()
    if kept_table:
        return read_table(sweep_dir)
    if not run:  # report what is there; nothing runs
        if (sweep_dir / PLAN).exists():
            return collect(sweep_dir)
        return SweepResult(sweep_dir, list(grid), [], [], sp.points(), [])
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


# compare.csv columns that hold integers; every other value stays text (a --go of "2017" is a
# name) and the metrics are parsed where they are read (``users._num``).
INT_COLUMNS = ("seed", "batch_seed")


def read_table(sweep_dir: Path) -> SweepResult:
    """A sweep from the ``compare.csv`` it left, for a sweep directory kept without its runs
    (``docs/example-report/sweeps``): the rows as ``collect`` wrote them, empty cells None."""
    path = sweep_dir / "compare.csv"
    reader = csv.DictReader(read_text(path).splitlines())
    header = reader.fieldnames or []
    if "seed" not in header or "run_id" not in header:
        raise InputError(path, 1, "not a compare.csv (no 'seed' and 'run_id' columns)")
    grid_keys = header[header.index("seed") + 1 : header.index("run_id")]
    runs: list[dict[str, Any]] = []
    for line, row in enumerate(reader, 2):
        run = {k: (None if v == "" else v) for k, v in row.items()}
        for key in INT_COLUMNS:
            if run.get(key) is not None:
                try:
                    run[key] = int(run[key])
                except ValueError as exc:
                    raise InputError(path, line, f"{key} is not an integer: {run[key]!r}") from exc
        runs.append(run)
    return SweepResult(sweep_dir, grid_keys, runs, [])
