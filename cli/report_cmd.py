"""``dcellx report``: run what the research question needs and write report.md + figures."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from dcellx.errors import ConfigError
from dcellx.report.build import build_report
from dcellx.report.plan import make_plan
from dcellx.train.context import check_device
from dcellx_cli.devices import ModelDeviceOpt


def report(
    out: Annotated[Path, typer.Option("--out", help="Output directory.")] = Path("report"),
    go: Annotated[str, typer.Option("--go", help="GO versions, comma-separated.")] = "2017,2018",
    seeds: Annotated[int, typer.Option(min=1, help="Seeds per variant/lever.")] = 3,
    epochs: Annotated[int | None, typer.Option(min=1, help="Epochs per overfit run.")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="One GO, one seed, 40 epochs.")] = False,
    threads: Annotated[int, typer.Option(min=1)] = 2,
    runs_dir: Annotated[
        Path | None, typer.Option("--runs-dir", help="Where sweeps go (reused if finished).")
    ] = None,
    sections: Annotated[
        str, typer.Option(help="users (the users' setting + the answer) and/or base (1-5).")
    ] = "users,base",
    collect_only: Annotated[
        bool, typer.Option("--collect-only", help="Run nothing; report what the sweeps hold.")
    ] = False,
    device: ModelDeviceOpt = "cpu",
) -> None:
    """Ceilings, overfit curves per variant, lever table, embedding equivalence: report.md."""
    plan = make_plan([g.strip() for g in go.split(",") if g.strip()], seeds, epochs, quick, threads)
    command = "dcellx " + " ".join(sys.argv[1:]) if sys.argv[1:] else "dcellx report"
    chosen = tuple(x.strip() for x in sections.split(",") if x.strip())
    bad = [x for x in chosen if x not in ("users", "base")]
    if bad or not chosen:
        raise ConfigError(f"--sections takes users and/or base, not {sections!r}")
    if collect_only and "base" in chosen:
        raise ConfigError("--collect-only reports the users' section only: add --sections users")
    check_device(device)  # before anything runs
    build_report(
        plan, out, runs_dir or out / "runs", command, Console(), chosen,
        collect_only=collect_only, device=device,
    )  # fmt: skip


def register(app: typer.Typer) -> None:
    app.command("report")(report)
