"""``dcellx runs [DIR]``: every run and sweep under a runs directory, as a table or JSON
(``dcellx.train.runlist``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from dcellx.train.runlist import STATUSES, list_runs, public, select

console = Console()
STYLE = {"running": "cyan", "finished": "green", "interrupted": "yellow", "failed": "red"}


def _number(v: float | None, digits: int = 4) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 60 else f"{seconds:.1f} s"


def _table(rows: list[dict[str, Any]], title: str) -> Table:
    t = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    for name in ("id", "command", "preset", "go", "variant", "seed", "status"):
        t.add_column(name, no_wrap=name in ("id", "status"))
    for name in ("epochs", "steps", "best r", "final r"):
        t.add_column(name, justify="right")
    has_test = any(r["test_pearson"] is not None for r in rows)
    if has_test:
        t.add_column("test r", justify="right")
    t.add_column("time", justify="right")
    for r in rows:
        status = r["status"] + (f" {r['runs']}" if r["runs"] else "")
        if r["holder"]:
            status += f" (pid {r['holder'].get('pid')})"
        cells = [str(r[k]) for k in ("id", "command", "preset", "go", "variant", "seed")]
        cells.append(f"[{STYLE[r['status']]}]{status}[/]")
        cells += ["" if r[k] is None else str(r[k]) for k in ("epochs", "steps")]
        cells += [_number(r["best_pearson"]), _number(r["final_pearson"])]
        if has_test:
            cells.append(_number(r["test_pearson"]))
        cells.append(_duration(r["seconds"]))
        t.add_row(*cells)
    return t


def runs(
    runs_dir: Annotated[
        Path, typer.Argument(help="A runs directory, a sweep directory or one run.")
    ] = Path("runs"),
    sort: Annotated[
        str | None,
        typer.Option(
            "--sort",
            help="Sort by a column or config field (-KEY: descending), e.g. -best_pearson.",
        ),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            "--where",
            help="Only rows with KEY=VALUE (repeatable): a column (status, preset, go, variant, "
            "seed, command, ...) or a config field (lr, model.alpha).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON.")] = False,
) -> None:
    """One row per run or sweep: command, preset, --go, variant, seed, status (running, finished,
    interrupted, failed), epochs and steps, best and final eval-BN Pearson, time."""
    rows = select(list_runs(runs_dir), where, sort)
    if as_json:
        typer.echo(json.dumps([public(r) for r in rows], indent=2))
        return
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 200  # piped or logged: whole rows rather than a terminal's 80 columns
    console.print(_table(rows, f"{runs_dir}: {len(rows)} runs and sweeps"))
    counts = {s: sum(r["status"] == s for r in rows) for s in STATUSES}
    console.print(", ".join(f"{n} {s}" for s, n in counts.items() if n), highlight=False)


def register(app: typer.Typer) -> None:
    app.command("runs")(runs)
