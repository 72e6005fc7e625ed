"""The ``dcellx`` console entry point: registers the command groups, maps errors to exit codes."""

from __future__ import annotations

import sys

import typer

from dcellx.errors import DcellxError
from dcellx.fileio import os_error_line
from dcellx_cli import (
    bench_cmd,
    config_cmd,
    data_cmd,
    diagnose_cmd,
    import_cmd,
    ontology_cmd,
    report_cmd,
    runs_cmd,
    slurm_cmd,
    train_cmd,
)

app = typer.Typer(
    name="dcellx",
    help="Experiment runner for the DCell visible neural network.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data_cmd.app, name="data", help="Registered data files: list, fetch and verify them.")
app.add_typer(
    ontology_cmd.app, name="ontology", help="Build, cache and inspect compiled ontologies."
)
app.command("bench")(bench_cmd.bench)
diagnose_cmd.register(app)
report_cmd.register(app)
diagnose_cmd.register_simulate(data_cmd.app)
train_cmd.register(app)
slurm_cmd.register(app)
import_cmd.register(app)
runs_cmd.register(app)
config_cmd.register(app)


MEMORY_LINE = (
    "out of memory: an input too large for this machine's memory, or an input limit raised too "
    "far (DCELLX_MAX_LINE_BYTES, DCELLX_MAX_DECOMPRESSED_BYTES, DCELLX_MAX_EXPANSION)"
)


def main() -> None:
    """Run the CLI. A library error becomes one red line on stderr and exit code 2."""
    from dcellx.train.loop import RunInterrupted

    try:
        app()
    except RunInterrupted as exc:  # SIGTERM/SIGINT inside a sweep or report: checkpoint written
        typer.secho(str(exc), fg="yellow", err=True)
        sys.exit(exc.exit_code)
    except DcellxError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(2)
    except OSError as exc:  # read-only or full file system, a path under a file, ...
        typer.secho(f"error: {os_error_line(exc)}", fg="red", err=True)
        sys.exit(2)
    except MemoryError:  # numpy's _ArrayMemoryError too; what held the memory is gone by now
        typer.secho(f"error: {MEMORY_LINE}", fg="red", err=True)
        sys.exit(2)
