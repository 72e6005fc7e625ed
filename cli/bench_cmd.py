"""``dcellx bench``: engine throughput, FLOP efficiency and memory (see dcellx.bench)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dcellx.bench import run_bench
from dcellx.data.universe import load_ontology
from dcellx.nn.config import make_config
from dcellx_cli.common import GoOpt

console = Console()


def bench(
    go: GoOpt = "2017",
    preset: Annotated[str, typer.Option(help="paper, lua, torchcell or dcell-new.")] = "paper",
    variant: Annotated[str, typer.Option(help="binary or an embedding variant.")] = "binary",
    batch_size: Annotated[int, typer.Option("--batch-size", min=2)] = 256,
    threads: Annotated[int, typer.Option(help="torch threads (recorded).")] = 2,
    steps: Annotated[int, typer.Option(help="timed engine steps after warm-up.")] = 5,
    reference_steps: Annotated[int, typer.Option("--reference-steps")] = 2,
    no_reference: Annotated[bool, typer.Option("--no-reference")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Training samples/s of the fast engine vs the reference loop, GFLOP/s, peak RSS."""
    cfg = make_config(preset, variant=variant)
    out = run_bench(
        load_ontology(go),
        cfg,
        batch_size=batch_size,
        threads=threads,
        steps=steps,
        reference_steps=reference_steps,
        with_reference=not no_reference,
    )
    if as_json:
        typer.echo(json.dumps(out, indent=2))
        return
    table = Table(title=f"dcellx bench --go {go} --preset {preset} --variant {variant}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for k, v in out.items():
        table.add_row(k, f"{v:,}" if isinstance(v, int) else str(v))
    console.print(table)
