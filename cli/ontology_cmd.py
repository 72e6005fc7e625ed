"""``dcellx ontology build|stats|export``: compile a recipe (cached), report or export it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cli.common import (
    DateCutoffOpt,
    GafOpt,
    GoOpt,
    MinGenesOpt,
    OboOpt,
    UniverseOpt,
    ontology_overrides,
)
from dcellx.errors import ConfigError
from dcellx.ontology.build import load_ontology
from dcellx.ontology.formats import write_three_column, write_topology
from dcellx.ontology.stats import ontology_stats

app = typer.Typer(no_args_is_help=True)
console = Console()


@app.command()
def build(
    go: GoOpt = "2017",
    obo: OboOpt = None,
    gaf: GafOpt = None,
    date_cutoff: DateCutoffOpt = None,
    min_genes: MinGenesOpt = None,
    universe: UniverseOpt = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Rebuild, ignore the cache.")
    ] = False,
) -> None:
    """Compile an ontology recipe and store it in the cache."""
    t0 = time.perf_counter()
    overrides = ontology_overrides(obo, gaf, date_cutoff, min_genes, universe)
    onto = load_ontology(go, use_cache=not no_cache, **overrides)
    console.print(
        f"[bold]{onto.name}[/]: {onto.num_terms} terms, {onto.num_genes} genes, "
        f"{onto.num_strata} strata, hash {onto.content_hash[:12]} "
        f"({time.perf_counter() - t0:.2f} s)"
    )


@app.command()
def stats(
    go: GoOpt = "2017",
    obo: OboOpt = None,
    gaf: GafOpt = None,
    date_cutoff: DateCutoffOpt = None,
    min_genes: MinGenesOpt = None,
    universe: UniverseOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Terms, genes, strata, neurons and per-filter-stage counts of an ontology."""
    overrides = ontology_overrides(obo, gaf, date_cutoff, min_genes, universe)
    s = ontology_stats(load_ontology(go, **overrides))
    if as_json:
        typer.echo(json.dumps(s, indent=2))
        return
    table = Table(title=f"ontology {s['name']}")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for key in ("terms", "genes", "annotations", "edges", "strata", "leaves", "neurons"):
        table.add_row(key, f"{s[key]:,}")
    table.add_row("width min-max", f"{s['width_min']}-{s['width_max']}")
    table.add_row("parameters (paper)", f"{s['params_paper']:,}")
    table.add_row("MFLOP/sample fwd", f"{s['mflops_per_sample_paper']}")
    for ns, n in s["namespaces"].items():
        table.add_row(f"terms: {ns}", f"{n:,}")
    table.add_row("universe", f"{s['universe']} ({s['universe_size']})")
    table.add_row("content hash", s["content_hash"][:16])
    console.print(table)
    stages = Table(title="filter stages")
    for col in ("stage", "terms", "annotations", "note"):
        stages.add_column(col)
    for st in s["stages"]:
        stages.add_row(st["name"], f"{st['terms']:,}", f"{st['annotations']:,}", st["note"])
    console.print(stages)


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", help="File to write (atomically).")],
    go: GoOpt = "2017",
    fmt: Annotated[
        str, typer.Option("--format", help="Output format: topology (DCell) or three-column.")
    ] = "topology",
    obo: OboOpt = None,
    gaf: GafOpt = None,
    date_cutoff: DateCutoffOpt = None,
    min_genes: MinGenesOpt = None,
    universe: UniverseOpt = None,
) -> None:
    """Write a compiled ontology as a DCell topology file or a three-column edge list."""
    writers = {"topology": write_topology, "three-column": write_three_column}
    if fmt not in writers:
        raise ConfigError(f"--format must be one of {sorted(writers)}, not {fmt!r}")
    overrides = ontology_overrides(obo, gaf, date_cutoff, min_genes, universe)
    onto = load_ontology(go, **overrides)
    writers[fmt](onto, out)
    console.print(f"[bold]{onto.name}[/] ({onto.num_terms} terms, {onto.num_genes} genes) -> {out}")
