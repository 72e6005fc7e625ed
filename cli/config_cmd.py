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
from dcellx.train.config_file import flag_keys, read_config_file, sources, with_config_file
from dcellx_cli.common import (
    AlphaDecayEpochsOpt,
    AlphaOpt,
    AttentionHeadsOpt,
    AuxReduceOpt,
    BatchSeedOpt,
    BatchSizeOpt,
    BnFreezeAfterOpt,
    CheckpointEveryOpt,
    ConfigFileOpt,
    DataOpt,
    DateCutoffOpt,
    DeletionRuleOpt,
    DepthOpt,
    DeviceOpt,
    DuplicatesOpt,
    EmbeddingDimOpt,
    EpochsOpt,
    FitStopEpochsOpt,
    FitStopPearsonOpt,
    GafOpt,
    HoldoutFractionOpt,
    KeepCheckpointsOpt,
    L2Opt,
    LabelNormOpt,
    LogOpt,
    LrOpt,
    MaxStepsOpt,
    MinGenesOpt,
    NormOpt,
    OboOpt,
    PresetOpt,
    QuietOpt,
    RunGoOpt,
    RunsDirOpt,
    SchedulerOpt,
    ScoreSampleOpt,
    SeedOpt,
    SetOpt,
    SplitOpt,
    SplitSeedOpt,
    TestDataOpt,
    ThreadsOpt,
    UniverseOpt,
    UnknownGenesOpt,
    VariantOpt,
    WidthFloorOpt,
    WidthMultiplierOpt,
    flag_spec,
)

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
def show(
    mode: Annotated[
        str | None,
        typer.Option("--mode", help="overfit or train (default: the file's, else overfit)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print {config, sources} as JSON.")
    ] = False,
    go: RunGoOpt = None,
    obo: OboOpt = None,
    gaf: GafOpt = None,
    date_cutoff: DateCutoffOpt = None,
    min_genes: MinGenesOpt = None,
    universe: UniverseOpt = None,
    data: DataOpt = None,
    test_data: TestDataOpt = None,
    unknown_genes: UnknownGenesOpt = None,
    duplicates: DuplicatesOpt = None,
    batch_size: BatchSizeOpt = None,
    batch_seed: BatchSeedOpt = None,
    epochs: EpochsOpt = None,
    max_steps: MaxStepsOpt = None,
    fit_stop_pearson: FitStopPearsonOpt = None,
    fit_stop_epochs: FitStopEpochsOpt = None,
    variant: VariantOpt = None,
    preset: PresetOpt = None,
    norm: NormOpt = None,
    bn_freeze_after: BnFreezeAfterOpt = None,
    width_floor: WidthFloorOpt = None,
    width_multiplier: WidthMultiplierOpt = None,
    alpha: AlphaOpt = None,
    aux_reduce: AuxReduceOpt = None,
    alpha_decay_epochs: AlphaDecayEpochsOpt = None,
    depth: DepthOpt = None,
    l2: L2Opt = None,
    embedding_dim: EmbeddingDimOpt = None,
    attention_heads: AttentionHeadsOpt = None,
    deletion_rule: DeletionRuleOpt = None,
    lr: LrOpt = None,
    scheduler: SchedulerOpt = None,
    seed: SeedOpt = None,
    runs_dir: RunsDirOpt = None,
    threads: ThreadsOpt = None,
    device: DeviceOpt = None,
    label_norm: LabelNormOpt = None,
    split: SplitOpt = None,
    holdout_fraction: HoldoutFractionOpt = None,
    split_seed: SplitSeedOpt = None,
    score_sample: ScoreSampleOpt = None,
    checkpoint_every: CheckpointEveryOpt = None,
    keep_checkpoints: KeepCheckpointsOpt = None,
    log: LogOpt = None,
    config_file: ConfigFileOpt = None,
    set_: SetOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """The resolved run config of these options (``--config FILE`` and flags, as ``overfit`` /
    ``train`` take them), each value with its source: default, preset, file or flag."""
    opts = {k: v for k, v in locals().items() if k not in ("mode", "as_json")}
    flags, preset, config_file = flag_spec(opts)
    file = None if config_file is None else read_config_file(config_file)
    mode_from = "flag" if mode is not None else "default"
    if mode is None and file is not None and ("run", "mode") in file.values:
        mode, mode_from = file.values[("run", "mode")], "file"
    mode = mode or "overfit"
    if mode not in ("overfit", "train"):
        raise ConfigError(f"--mode must be overfit or train, not {mode!r}")
    spec = flags
    if config_file is not None:
        spec, file = with_config_file(config_file, flags, preset, mode)
    spec.fields.setdefault("go", "2017")  # as run_spec does
    cfg = spec.config(mode=mode)
    origin = {**sources(cfg, file, flag_keys(flags, preset)), "mode": mode_from}
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
