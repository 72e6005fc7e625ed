"""``dcellx data``: list the registered data files, fetch one, inspect a genotype file (thin
wrappers over the library)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dcellx.data.inspect import inspect_file
from dcellx.data.screens import FORMATS
from dcellx.errors import ConfigError, DcellxError
from dcellx.io import registry
from dcellx.ontology.cache import verify_cache

app = typer.Typer(no_args_is_help=True)


@app.command("list")
def list_files() -> None:
    """Show every registered file, whether its hash is pinned, where it is present and its
    upstream (or why it has none)."""
    table = Table()
    table.add_column("name", no_wrap=True)
    table.add_column("path", overflow="fold")
    table.add_column("pinned")
    table.add_column("present")
    table.add_column("upstream", overflow="fold")
    for entry in registry.REGISTRY.values():
        upstream = entry.url or f"none: {entry.no_upstream} (the shipped builds serve)"
        if entry.member:
            upstream += f" (member {entry.member})"
        table.add_row(
            entry.name,
            entry.path,
            "yes" if entry.sha256 else "no",
            registry.presence(entry.name),
            upstream,
        )
    Console().print(table)
    mirror = registry.mirror_dir()
    typer.echo(f"cache: {registry.cache_dir()}")
    typer.echo(f"mirror: {mirror if mirror else 'DCELLX_MIRROR not set'}")


@app.command("fetch")
def fetch(
    name: str = typer.Argument(..., help="A registered name (see `dcellx data list`)."),
    offline: bool = typer.Option(False, "--offline", help="Only look locally; never download."),
) -> None:
    """Verify (or download into the cache) a registered file and print its local path."""
    typer.echo(str(registry.fetch(name, allow_download=not offline)))


@app.command("verify")
def verify() -> None:
    """Re-check every cached file: pinned hashes, download records, compiled ontologies."""
    checks = verify_cache()
    for c in checks:
        typer.echo(f"{c.status:<10} {c.path}: {c.detail}")
    failed = [c for c in checks if c.status == "failed"]
    typer.echo(f"cache: {registry.cache_dir()} ({len(checks)} checked, {len(failed)} failed)")
    if failed:
        first = failed[0]
        raise DcellxError(
            f"{len(failed)} cached file(s) failed verification, first {first.path}: {first.detail}"
        )


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


@app.command("inspect")
def inspect(
    file: Annotated[str, typer.Argument(help="A genotype file or a registered name.")],
    format: Annotated[
        str, typer.Option("--format", help=f"File format: {', '.join(FORMATS)}.")
    ] = "auto",
    phenotype: Annotated[
        str | None, typer.Option("--phenotype", help="Screen value or table column to read.")
    ] = None,
    max_pvalue: Annotated[
        float | None, typer.Option("--max-pvalue", help="Screens: keep rows with P <= this.")
    ] = None,
    min_abs_epsilon: Annotated[
        float | None,
        typer.Option("--min-abs-epsilon", help="Costanzo 2016: keep rows with |epsilon| >= this."),
    ] = None,
    allele_types: Annotated[
        str | None,
        typer.Option("--allele-types", help="Screens: comma-separated deletion,ts,damp,other."),
    ] = None,
    mutant_types: Annotated[
        str | None,
        typer.Option("--mutant-types", help="Kuzmin 2018: comma-separated digenic,trigenic."),
    ] = None,
    keep_ho: Annotated[
        bool, typer.Option("--keep-ho", help="Kuzmin 2018: keep the HO marker gene.")
    ] = False,
    go: Annotated[
        str | None, typer.Option("--go", help="Also count the genes this ontology recipe lacks.")
    ] = None,
    cache: Annotated[
        bool, typer.Option("--cache/--no-cache", help="Read through the parsed-screen cache.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Read a genotype file and report rows, filters, genotypes, genes, time and peak memory."""
    if format not in FORMATS:
        raise ConfigError(f"unknown genotype format {format!r}; choose from {list(FORMATS)}")
    given = {
        "max_pvalue": max_pvalue,
        "min_abs_epsilon": min_abs_epsilon,
        "allele_types": _names(allele_types),
        "mutant_types": _names(mutant_types),
        "drop_ho": False if keep_ho else None,
    }
    filters = {k: v for k, v in given.items() if v is not None}
    report = inspect_file(file, format, phenotype=phenotype, go=go, cache=cache, **filters)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    table = Table(title=str(report["file"]), show_header=False)
    table.add_column("what", no_wrap=True)
    table.add_column("value", justify="right")
    table.add_row("format", str(report["format"]))
    table.add_row("phenotype", str(report["phenotype"]))
    table.add_row("rows read", f"{report['rows']:,}")
    for name, kept in report["kept"].items():  # type: ignore[attr-defined]
        table.add_row(f"  kept after {name}={report['filters'][name]}", f"{kept:,}")  # type: ignore[index]
    for why, n in report["skipped"].items():  # type: ignore[attr-defined]
        table.add_row(f"  skipped: {why}", f"{n:,}")
    table.add_row("measurements", f"{report['measurements']:,}")
    table.add_row("genotypes (distinct)", f"{report['genotypes']:,}")
    table.add_row("genes", f"{report['genes']:,}")
    if go is not None:
        listed = report["unknown_gene_list"]
        shown = ", ".join(listed[:8]) + (", ..." if len(listed) > 8 else "")  # type: ignore[index,arg-type]
        table.add_row(f"genes unknown to --go {go}", f"{report['unknown_genes']:,}")
        if listed:
            table.add_row("", shown)
    table.add_row("from cache", "yes" if report["cached"] else "no")
    table.add_row("seconds", f"{report['seconds']:.3f}")
    table.add_row("peak RSS (MB)", f"{report['peak_rss_mb']:.0f}")
    Console().print(table)
