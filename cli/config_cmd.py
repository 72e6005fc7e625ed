"""``dcellx config show``: the config a run command would run, and where each value came from
(``dcellx.train.config_file``): its default (a model field's preset), the ``--config`` file, or
a flag."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from dcellx.errors import ConfigError
from dcellx.train.config import DEFAULT_MODE, MODES
from dcellx.train.config_file import flag_keys, read_config_file, sources
from dcellx_cli.common import one_of, with_options
from dcellx_cli.run_options import RunFlags, run_options

console = Console()
app = typer.Typer(no_args_is_help=True)
STYLE = {"flag": "bold cyan", "file": "green", "preset": "dim", "default": "dim", "command": ""}


def _rows(data: dict[str, Any], origin: dict[str, str]) -> list[tuple[str, Any, str]]:
    rows = []
    for name, value in data.items():
        if name in ("model", "ontology"):
            rows += [(f"{name}.{k}", v, origin[f"{name}.{k}"]) for k, v in value.items()]
        else:
            rows.append((name, value, origin[name]))
    return rows


@app.command("show")
@with_options(run_options, "flags")
def show(
    mode: Annotated[
        str | None,
        typer.Option(
            "--mode",
            help=f"{one_of(MODES)} (default: the file's, else {DEFAULT_MODE}).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print {config, sources} as JSON.")
    ] = False,
    *,
    flags: RunFlags,
) -> None:
    """The resolved run config of these options (``--config FILE`` and flags, as ``overfit`` /
    ``train`` take them), each value with its source: default, preset, file or flag."""
    config_file = flags.config_file
    file = None if config_file is None else read_config_file(config_file)
    mode_from = "flag" if mode is not None else "default"
    if mode is None and file is not None and ("run", "mode") in file.values:
        mode, mode_from = file.values[("run", "mode")], "file"
    mode = mode or DEFAULT_MODE
    if mode not in MODES:
        raise ConfigError(f"--mode must be {one_of(MODES)}, not {mode!r}")
    spec, file = flags.resolve(mode)
    cfg = spec.config(mode=mode)
    origin = {**sources(cfg, file, flag_keys(flags.given, flags.preset)), "mode": mode_from}
    data = cfg.model_dump(mode="json")
    if as_json:
        typer.echo(json.dumps({"config": data, "sources": origin}, indent=2))
        return
    title = f"dcellx {mode}" + (f" --config {config_file}" if config_file else "")
    t = Table(title=title)
    for col in ("field", "value", "from"):
        t.add_column(col)
    for name, value, where in _rows(data, origin):
        shown = json.dumps(value) if not isinstance(value, str) else value
        t.add_row(name, shown, f"[{STYLE[where]}]{where}[/]" if STYLE[where] else where)
    console.print(t)


def register(app_: typer.Typer) -> None:
    app_.add_typer(
        app, name="config", help="The resolved run config and where each value came from."
    )
