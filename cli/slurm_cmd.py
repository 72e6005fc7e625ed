"""``dcellx slurm compare|overfit|train``: parse flags and call ``dcellx.scale`` (script generation
and submission); ``register`` also adds ``dcellx sweep-run`` and ``sweep-status`` (``sweep_cmd``).
The run flags are the ones ``overfit``/``train``/``compare`` take (declared once in
``dcellx_cli.common``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from dcellx.scale.slurm import SlurmOptions, submit, write_array
from dcellx.train.compare import plan_cli_sweep
from dcellx_cli import sweep_cmd
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
    ModeOpt,
    NormOpt,
    OboOpt,
    PresetOpt,
    QuietOpt,
    RunGoOpt,
    RunsDirOpt,
    SchedulerOpt,
    ScoreSampleOpt,
    SeedOpt,
    SeedsPerVariantOpt,
    SetOpt,
    SplitOpt,
    SplitSeedOpt,
    SyncBnOpt,
    TestDataOpt,
    ThreadsOpt,
    UniverseOpt,
    UnknownGenesOpt,
    VariantOpt,
    VariantsOpt,
    WidthFloorOpt,
    WidthMultiplierOpt,
    run_spec,
)

console = Console()
app = typer.Typer(no_args_is_help=True)


def _flag(name: str, help: str) -> Any:
    return typer.Option(f"--{name}", help=help)


# The SLURM options, in this order, come after each array command's own (see SLURM_PARAMS).
PartitionOpt = Annotated[
    str | None, _flag("partition", "SLURM partition (default: the cluster's).")
]
TimeOpt = Annotated[
    str | None, _flag("time", "Time limit per task: minutes, HH:MM:SS or D-HH:MM:SS.")
]
GpusOpt = Annotated[int, _flag("gpus", "GPUs per node.")]
CpusOpt = Annotated[
    int | None, _flag("cpus", "CPUs per task (also the torch threads unless --threads).")
]
MemOpt = Annotated[str | None, _flag("mem", "Memory per node, e.g. 16G.")]
ArrayParallelOpt = Annotated[
    int | None, _flag("array-parallel", "At most K array tasks at once (--array=...%K).")
]
SignalOpt = Annotated[str, _flag("signal", "Signal before the time limit ([B:]SIG@seconds).")]
NodesOpt = Annotated[int, _flag("nodes", "--ddp: nodes per task.")]
NtasksPerNodeOpt = Annotated[
    int | None, _flag("ntasks-per-node", "--ddp: ranks per node (default: --gpus or 1).")
]
JobNameOpt = Annotated[str | None, _flag("job-name", "Job name (default: dcellx-<sweep id>).")]
SbatchOpt = Annotated[
    list[str] | None, _flag("sbatch", "Further sbatch option, e.g. --account=lab.")
]
SlurmDdpOpt = Annotated[
    bool, _flag("ddp", "Each task trains data-parallel under srun (--nodes, --gpus).")
]
SlurmSweepDirOpt = Annotated[
    Path | None, _flag("sweep-dir", "Use this sweep directory (default: a new one).")
]
SubmitOpt = Annotated[bool, _flag("submit", "Submit with sbatch and print the job id.")]
JsonOpt = Annotated[bool, _flag("json", "Print the result as JSON.")]
# overfit / train arrays
ArraySeedsOpt = Annotated[int, _flag("seeds", "Seeds (from --seed): one array task each.")]
GridOpt = Annotated[
    list[str] | None, _flag("grid", "key=v1,v2 (repeatable): one task per grid point.")
]

SLURM_PARAMS = (
    "partition",
    "time",
    "gpus",
    "cpus",
    "mem",
    "array_parallel",
    "signal",
    "nodes",
    "ntasks_per_node",
    "job_name",
    "sbatch",
    "ddp",
    "sync_bn",
    "sweep_dir",
    "submit",
    "as_json",
)


def _array(mode: str, variants: str | None, seeds: int, grid: list[str] | None, opts: dict) -> None:
    """Plan the sweep, write its sbatch script and (``--submit``) submit it. ``opts``: the
    command's parameters by name (``locals()``): the SLURM options and the run options."""
    opts = dict(opts)
    o = {name: opts.pop(name) for name in SLURM_PARAMS}
    slurm = SlurmOptions(
        partition=o["partition"],
        time=o["time"],
        gpus=o["gpus"],
        cpus=o["cpus"],
        mem=o["mem"],
        array_parallel=o["array_parallel"],
        signal=o["signal"],
        nodes=o["nodes"],
    )
    slurm.ntasks_per_node, slurm.job_name = o["ntasks_per_node"], o["job_name"]
    slurm.extra = o["sbatch"] or []
    spec = run_spec(opts, mode=mode)
    plan = plan_cli_sweep(spec, mode, seeds, grid, variants, threads=slurm.cpus)
    runs_dir = spec.fields.get("runs_dir", "runs")
    job = write_array(plan, slurm, o["sweep_dir"], runs_dir, o["ddp"], o["sync_bn"])
    if not o["ddp"] and not slurm.signals_batch_shell():
        typer.secho(
            f"warning: --signal {slurm.signal} signals job steps only; dcellx runs in the batch "
            "step, so it will not hear of the time limit (use B:...)", fg="yellow", err=True,
        )  # fmt: skip
    if o["submit"]:
        submit(job)
    if o["as_json"]:
        out = {"sweep_dir": str(job.sweep_dir), "script": str(job.script), "tasks": job.points}
        typer.echo(json.dumps({**out, "job_id": job.job_id}))
        return
    console.print(f"{job.script}: {job.points} array tasks", highlight=False)
    if job.job_id:
        console.print(f"submitted job {job.job_id}", highlight=False)
    else:
        console.print(f"submit with: sbatch {job.script}", highlight=False)
    console.print(f"then: dcellx sweep-status {job.sweep_dir}", highlight=False)


# Each array command: its own options, the SLURM options, then the run options (dcellx_cli.common).
@app.command("compare")
def compare(
    variants: VariantsOpt = "binary,embedding",
    seeds: SeedsPerVariantOpt = 3,
    mode: ModeOpt = "overfit",
    grid: GridOpt = None,
    partition: PartitionOpt = None,
    time: TimeOpt = None,
    gpus: GpusOpt = 0,
    cpus: CpusOpt = None,
    mem: MemOpt = None,
    array_parallel: ArrayParallelOpt = None,
    signal: SignalOpt = "B:TERM@120",
    nodes: NodesOpt = 1,
    ntasks_per_node: NtasksPerNodeOpt = None,
    job_name: JobNameOpt = None,
    sbatch: SbatchOpt = None,
    ddp: SlurmDdpOpt = False,
    sync_bn: SyncBnOpt = False,
    sweep_dir: SlurmSweepDirOpt = None,
    submit: SubmitOpt = False,
    as_json: JsonOpt = False,
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
    """A SLURM job array of variants x grid x seeds: one task per run, one sweep directory."""
    opts = dict(locals())
    for name in ("variants", "seeds", "mode", "grid"):
        del opts[name]
    _array(mode, variants, seeds, grid, opts)


def array_command(
    ctx: typer.Context,
    seeds: ArraySeedsOpt = 1,
    grid: GridOpt = None,
    partition: PartitionOpt = None,
    time: TimeOpt = None,
    gpus: GpusOpt = 0,
    cpus: CpusOpt = None,
    mem: MemOpt = None,
    array_parallel: ArrayParallelOpt = None,
    signal: SignalOpt = "B:TERM@120",
    nodes: NodesOpt = 1,
    ntasks_per_node: NtasksPerNodeOpt = None,
    job_name: JobNameOpt = None,
    sbatch: SbatchOpt = None,
    ddp: SlurmDdpOpt = False,
    sync_bn: SyncBnOpt = False,
    sweep_dir: SlurmSweepDirOpt = None,
    submit: SubmitOpt = False,
    as_json: JsonOpt = False,
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
    """``slurm overfit`` and ``slurm train``: one parameter list, the mode is the command's name."""
    opts = {k: v for k, v in locals().items() if k not in ("ctx", "seeds", "grid")}
    _array(ctx.info_name, None, seeds, grid, opts)


app.command("overfit", help="A SLURM job array of overfit runs (one per seed and grid point).")(
    array_command
)
app.command("train", help="A SLURM job array of train runs (one per seed and grid point).")(
    array_command
)


def register(main_app: typer.Typer) -> None:
    main_app.add_typer(app, name="slurm", help="SLURM job arrays: write and submit sbatch scripts.")
    main_app.command("sweep-run")(sweep_cmd.sweep_run)
    main_app.command("sweep-status")(sweep_cmd.sweep_status_cmd)
