"""``dcellx data``: list the registered data files and fetch one (thin wrapper over the library)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from dcellx.errors import DcellxError
from dcellx.io import registry
from dcellx.ontology.cache import verify_cache

app = typer.Typer(no_args_is_help=True)


@app.command("list")
def list_files() -> None:
    """Show every registered file, whether its hash is pinned, and where it is present."""
    table = Table()
    table.add_column("name", no_wrap=True)
    table.add_column("path", no_wrap=True)
    table.add_column("pinned")
    table.add_column("present")
    table.add_column("url", overflow="fold")
    for entry in registry.REGISTRY.values():
        table.add_row(
            entry.name,
            entry.path,
            "yes" if entry.sha256 else "no",
            registry.presence(entry.name),
            entry.url or "-",
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
