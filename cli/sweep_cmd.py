"""``dcellx sweep-run`` (one point of a sweep, e.g. one SLURM array task) and ``dcellx
sweep-status`` (every planned point's state): parse flags and call ``dcellx.scale``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dcellx.scale.slurm import status_json, sweep_status
from dcellx.scale.task import run_task
from dcellx.train.loop import RunInterrupted

console = Console()


def sweep_run(
    sweep_dir: Annotated[Path, typer.Argument(help="A sweep directory (holds sweep.json).")],
    point: Annotated[int, typer.Option("--point", help="Index of the planned point.")],
    ddp: Annotated[bool, typer.Option("--ddp", help="Data parallel (torchrun/srun).")] = False,
    sync_bn: Annotated[bool, typer.Option("--sync-bn", help="--ddp: global BN stats.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Run one point of a sweep: skip it if finished, resume it if interrupted, else start it."""
    try:
        result, main = run_task(sweep_dir, point, ddp, sync_bn, quiet, console)
    except RunInterrupted as exc:
        typer.secho(str(exc), fg="yellow", err=True)
        raise typer.Exit(exc.exit_code) from None
    if main:
        best = result.summary.get("best_pearson_eval_bn")
        line = f"{result.run_dir}: finished" + (f", best eval-BN r {best:.4f}" if best else "")
        console.print(line, highlight=False, soft_wrap=True)


def sweep_status_cmd(
    sweep_dir: Annotated[Path, typer.Argument(help="A sweep directory (holds sweep.json).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Each planned point: finished, running, pending, interrupted, failed or missing (exit 1 if
    any failed or is missing). ``dcellx compare --collect DIR`` builds the tables."""
    statuses = sweep_status(sweep_dir)
    if as_json:
        typer.echo(status_json(statuses))
    else:
        t = Table(title=f"sweep {sweep_dir.name}")
        for col in ("point", "run", "state", "epochs", "run id", "SLURM"):
            t.add_column(col)
        for s in statuses:
            t.add_row(str(s.point), s.label, s.state, str(s.epochs or ""), s.run_id or "",
                      s.slurm or "")  # fmt: skip
        console.print(t)
        counts: dict[str, int] = {}
        for s in statuses:
            counts[s.state] = counts.get(s.state, 0) + 1
        console.print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())), highlight=False)
    if any(s.state in ("failed", "missing") for s in statuses):
        raise typer.Exit(1)
