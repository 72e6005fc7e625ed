"""``dcellx import-lua``: the original DCell's saved Torch7 model as a dcellx run directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table


def import_lua(
    model: Annotated[
        str,
        typer.Argument(
            help="The saved .t7 model: a path or a registered name (dcell-dna-repair-model)."
        ),  # fmt: skip
    ],
    out: Annotated[Path, typer.Option("--out", help="New (or empty) run directory to write.")],
    topology: Annotated[
        str, typer.Option(help="The DCell topology it was trained on (registered name or path).")
    ] = "dcell-dna-repair-topology",
    gene_map: Annotated[
        str, typer.Option(help="Its gene2id_mapping file (registered name or path).")
    ] = "dcell-dna-repair-gene-map",
    data: Annotated[
        str, typer.Option(help="Dataset to score the imported model on (eval mode).")
    ] = "dcell-dna-repair",
    threads: Annotated[int, typer.Option(help="torch threads.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Import a Torch7 nngraph DCell model exactly (preset lua-released); `dcellx predict` and
    `dcellx rlipp` then take the run directory. A module the topology cannot place is an error
    naming it (exit code 2)."""
    from dcellx.train.lua_run import import_lua_run

    out_summary = import_lua_run(model, out, topology, gene_map, data, threads)
    if as_json:
        typer.echo(json.dumps(out_summary, indent=2, default=str))
        return
    console = Console()
    rec = out_summary["record"]
    mods = ", ".join(f"{v} {k}" for k, v in rec["modules"].items())
    console.print(f"{rec['source']['path']}: {mods}; {rec['parameters']:,} weights and biases")
    table = Table(title="where the saved model differs from --preset lua")
    for col in ("field", "lua", "saved", "evidence"):
        table.add_column(col, overflow="fold")
    for d in rec["differences_from_lua"]:
        table.add_row(d["field"], str(d["lua"]), str(d["saved"]), d["evidence"])
    console.print(table)
    s = rec["weight_share_outside"]
    console.print(
        f"gene layers: share of each term's squared weight norm on genes outside the term: "
        f"min {s['min']:.3f}, median {s['median']:.3f}, max {s['max']:.3f} (import.json)"
    )
    for part, m in out_summary["metrics"].items():
        console.print(
            f"{part}: Pearson {m['pearson']:.4f}, Spearman {m['spearman']:.4f}, "
            f"n {m['n']} (eval mode)"
        )
    console.print(f"-> {out_summary['run_dir']}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("import-lua")(import_lua)
