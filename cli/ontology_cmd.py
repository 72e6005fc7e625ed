"""``dcellx ontology build|stats|export``: compile a recipe (cached), report or export it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dcellx.data.universe import load_ontology_with_datasets
from dcellx.errors import ConfigError
from dcellx.fileio import check_writable
from dcellx.interop.pyg import save_heterodata
from dcellx.ontology.formats import write_three_column, write_topology
from dcellx.ontology.stats import ontology_stats
from dcellx.train.config import DEFAULT_GO
from dcellx_cli.common import (
    DateCutoffOpt,
    GafOpt,
    GoOpt,
    MinGenesOpt,
    OboOpt,
    UniverseOpt,
    ontology_overrides,
)

app = typer.Typer(no_args_is_help=True)
console = Console()


@app.command()
def build(
    go: GoOpt = DEFAULT_GO,
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
    onto = load_ontology_with_datasets(go, use_cache=not no_cache, **overrides)
    console.print(
        f"[bold]{onto.name}[/]: {onto.num_terms} terms, {onto.num_genes} genes, "
        f"{onto.num_strata} strata, hash {onto.content_hash[:12]} "
        f"({time.perf_counter() - t0:.2f} s)"
    )


@app.command()
def stats(
    go: GoOpt = DEFAULT_GO,
    obo: OboOpt = None,
    gaf: GafOpt = None,
    date_cutoff: DateCutoffOpt = None,
    min_genes: MinGenesOpt = None,
    universe: UniverseOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Terms, genes, strata, neurons and per-filter-stage counts of an ontology."""
    overrides = ontology_overrides(obo, gaf, date_cutoff, min_genes, universe)
    s = ontology_stats(load_ontology_with_datasets(go, **overrides))
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
    if s["served_by"]:
        table.add_row("served by", s["served_by"]["source"])
    if s["vocabulary"]:
        v = s["vocabulary"]
        table.add_row("vocabulary", f"{v['size']:,} genes ({v['source']})")
        table.add_row("vocabulary genes without annotation", f"{v['without_annotation']:,}")
    console.print(table)
    for line in s["inputs"].get("substitutions", []):
        console.print(f"[yellow]input:[/] {line}")
    if (s["served_by"] or {}).get("source") == "embedded":
        console.print(
            f"[yellow]input:[/] the build shipped with dcellx ({s['served_by']['detail']}); "
            "its load record and filter stages are those of its compile from the pinned files"
        )
    console.print(load_record_table(s["load"]))
    stages = Table(title="filter stages")
    for col in ("stage", "terms", "edges", "annotations", "genes", "note"):
        stages.add_column(col, justify="left" if col in ("stage", "note") else "right")
    for st in s["stages"]:
        stages.add_row(
            st["name"],
            f"{st['terms']:,}",
            f"{st.get('edges', 0):,}",
            f"{st['annotations']:,}",
            f"{st.get('genes', 0):,}",
            st["note"],
        )
    console.print(stages)
    if s["published"]:
        console.print(published_table(s))


def published_table(s: dict) -> Table:
    """Our final counts beside the ones published for the build the recipe rebuilds."""
    pub = s["published"]
    table = Table(title=f"beside the published build ({pub.get('source', '')})")
    for col in ("quantity", "dcellx", "published"):
        table.add_column(col, justify="left" if col == "quantity" else "right")
    ours = {k: s.get(k) for k in ("terms", "edges", "annotations", "strata")}
    ours["genes_covered"] = s["genes"]
    ours["vocabulary"] = s["vocabulary"].get("size") if s["vocabulary"] else None
    for key, value in ours.items():
        if key in pub:
            table.add_row(key, f"{value:,}" if value is not None else "-", f"{pub[key]:,}")
    return table


def load_record_table(load: dict) -> Table:
    """What the readers kept and dropped: OBO lines, GAF rows per route and reason, GO ids."""
    table = Table(title="load record")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_column("detail")
    obo, ann, mapping = load.get("obo", {}), load.get("annotations", {}), load.get("mapping", {})
    if obo:
        table.add_row("OBO live terms", f"{obo['live_terms']:,}", obo.get("data_version", ""))
        table.add_row("OBO obsolete terms", f"{obo['obsolete_terms']:,}", "")
        for rel in ("is_a", "part_of"):
            table.add_row(f"OBO {rel} edges", f"{obo['edges'].get(rel, 0):,}", "")
        at = ", ".join(obo.get("skipped_at", []))
        table.add_row("OBO lines skipped", f"{obo['skipped_lines']:,}", at)
    if ann:
        table.add_row("annotation rows read", f"{ann['rows_read']:,}", ann.get("format", ""))
        for route, n in ann.get("resolved", {}).items():
            table.add_row(f"  gene by {route}", f"{n:,}", "")
        first = ann.get("first_dropped_at", {})
        for reason, n in ann.get("dropped", {}).items():
            table.add_row(f"  dropped: {reason}", f"{n:,}", first.get(reason, ""))
    if mapping:
        table.add_row("rows to alt_ids (mapped)", f"{mapping['alt_id_mapped']:,}", "")
        table.add_row("rows to obsolete ids (replaced)", f"{mapping['replaced']:,}", "")
        lost = mapping.get("lost_obsolete_first", "")
        table.add_row("rows to obsolete ids (lost)", f"{mapping['lost_obsolete']:,}", lost)
        unknown = mapping.get("unknown_term_first", "")
        table.add_row("rows to GO ids not in the release", f"{mapping['unknown_term']:,}", unknown)
    return table


@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", help="File to write (atomically).")],
    go: GoOpt = DEFAULT_GO,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="Output format: topology (DCell), three-column, or pyg (torch.save of "
            "torchcell's PyG HeteroData; needs pip install 'dcellx[pyg]').",
        ),
    ] = "topology",
    obo: OboOpt = None,
    gaf: GafOpt = None,
    date_cutoff: DateCutoffOpt = None,
    min_genes: MinGenesOpt = None,
    universe: UniverseOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --out.")] = False,
) -> None:
    """Write a compiled ontology as a DCell topology file, a three-column edge list or a PyG
    HeteroData."""
    writers = {
        "topology": write_topology,
        "three-column": write_three_column,
        "pyg": save_heterodata,
    }
    if fmt not in writers:
        raise ConfigError(f"--format must be one of {sorted(writers)}, not {fmt!r}")
    if out.is_file() and not force:
        raise ConfigError(f"{out}: exists; add --force to overwrite it")
    check_writable(out)  # before the compile
    overrides = ontology_overrides(obo, gaf, date_cutoff, min_genes, universe)
    onto = load_ontology_with_datasets(go, **overrides)
    writers[fmt](onto, out)
    console.print(f"[bold]{onto.name}[/] ({onto.num_terms} terms, {onto.num_genes} genes) -> {out}")
