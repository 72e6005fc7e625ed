"""``dcellx slurm compare|overfit|train``: parse flags and call ``dcellx.scale`` (script generation
and submission); ``register`` also adds ``dcellx sweep-run`` and ``sweep-status`` (``sweep_cmd``).
The run flags are the ones ``overfit``/``train``/``compare`` take (``dcellx_cli.run_options``);
the SLURM flags are declared once too, as the parameters of ``slurm_options``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from dcellx.scale.slurm import SlurmOptions, submit, write_array
from dcellx.train.compare import plan_cli_sweep
from dcellx.train.config import DEFAULT_MODE
from dcellx_cli import sweep_cmd
from dcellx_cli.common import (
    ModeOpt,
    SeedsPerVariantOpt,
    SyncBnOpt,
    VariantsOpt,
    cli_flag,
    with_options,
)
from dcellx_cli.run_options import RunFlags, run_options

console = Console()
app = typer.Typer(no_args_is_help=True)


# The SLURM options, in this order, come after each array command's own (``slurm_options``).
PartitionOpt = Annotated[
    str | None, cli_flag("partition", "SLURM partition (default: the cluster's).")
]
TimeOpt = Annotated[
    str | None, cli_flag("time", "Time limit per task: minutes, HH:MM:SS or D-HH:MM:SS.")
]
GpusOpt = Annotated[int, cli_flag("gpus", "GPUs per node.")]
CpusOpt = Annotated[
    int | None, cli_flag("cpus", "CPUs per task (also the torch threads unless --threads).")
]
MemOpt = Annotated[str | None, cli_flag("mem", "Memory per node, e.g. 16G.")]
ArrayParallelOpt = Annotated[
    int | None, cli_flag("array-parallel", "At most K array tasks at once (--array=...%K).")
]
SignalOpt = Annotated[str, cli_flag("signal", "Signal before the time limit ([B:]SIG@seconds).")]
NodesOpt = Annotated[int, cli_flag("nodes", "--ddp: nodes per task.")]
NtasksPerNodeOpt = Annotated[
    int | None, cli_flag("ntasks-per-node", "--ddp: ranks per node (default: --gpus or 1).")
]
JobNameOpt = Annotated[str | None, cli_flag("job-name", "Job name (default: dcellx-<sweep id>).")]
SbatchOpt = Annotated[
    list[str] | None, cli_flag("sbatch", "Further sbatch option, e.g. --account=lab.")
]
SlurmDdpOpt = Annotated[
    bool, cli_flag("ddp", "Each task trains data-parallel under srun (--nodes, --gpus).")
]
SlurmSweepDirOpt = Annotated[
    Path | None, cli_flag("sweep-dir", "Use this sweep directory (default: a new one).")
]
SubmitOpt = Annotated[bool, cli_flag("submit", "Submit with sbatch and print the job id.")]
JsonOpt = Annotated[bool, cli_flag("json", "Print the result as JSON.")]
# overfit / train arrays
ArraySeedsOpt = Annotated[int, cli_flag("seeds", "Seeds (from --seed): one array task each.")]
GridOpt = Annotated[
    list[str] | None, cli_flag("grid", "key=v1,v2 (repeatable): one task per grid point.")
]


@dataclass(frozen=True)
class ArrayFlags:
    """The SLURM options of one command line: the ``#SBATCH`` requests and what to do."""

    slurm: SlurmOptions
    ddp: bool
    sync_bn: bool
    sweep_dir: Path | None
    submit: bool
    as_json: bool


def slurm_options(
    partition: PartitionOpt = None,
    time: TimeOpt = None,
    gpus: GpusOpt = SlurmOptions.gpus,
    cpus: CpusOpt = None,
    mem: MemOpt = None,
    array_parallel: ArrayParallelOpt = None,
    signal: SignalOpt = SlurmOptions.signal,
    nodes: NodesOpt = SlurmOptions.nodes,
    ntasks_per_node: NtasksPerNodeOpt = None,
    job_name: JobNameOpt = None,
    sbatch: SbatchOpt = None,
    ddp: SlurmDdpOpt = False,
    sync_bn: SyncBnOpt = False,
    sweep_dir: SlurmSweepDirOpt = None,
    submit: SubmitOpt = False,
    as_json: JsonOpt = False,
) -> ArrayFlags:
    """The SLURM options, in this order: every array command's, after its own (``with_options``)."""
    slurm = SlurmOptions(
        partition=partition,
        time=time,
        gpus=gpus,
        cpus=cpus,
        mem=mem,
        array_parallel=array_parallel,
        signal=signal,
        nodes=nodes,
        ntasks_per_node=ntasks_per_node,
        job_name=job_name,
        extra=sbatch or [],
    )
    return ArrayFlags(slurm, ddp, sync_bn, sweep_dir, submit, as_json)


def _array(
    mode: str,
    variants: str | None,
    seeds: int,
    grid: list[str] | None,
    array: ArrayFlags,
    flags: RunFlags,
) -> None:
    """Plan the sweep, write its sbatch script and (``--submit``) submit it."""
    slurm = array.slurm
    spec = flags.spec(mode)
    plan = plan_cli_sweep(spec, mode, seeds, grid, variants, threads=slurm.cpus)
    job = write_array(
        plan, slurm, array.sweep_dir, spec.run_field("runs_dir"), array.ddp, array.sync_bn
    )
    if not array.ddp and not slurm.signals_batch_shell():
        typer.secho(
            f"warning: --signal {slurm.signal} signals job steps only; dcellx runs in the batch "
            "step, so it will not hear of the time limit (use B:...)", fg="yellow", err=True,
        )  # fmt: skip
    if array.submit:
        submit(job)
    if array.as_json:
        out = {"sweep_dir": str(job.sweep_dir), "script": str(job.script), "tasks": job.points}
        typer.echo(json.dumps({**out, "job_id": job.job_id}))
        return
    console.print(f"{job.script}: {job.points} array tasks", highlight=False)
    if job.job_id:
        console.print(f"submitted job {job.job_id}", highlight=False)
    else:
        console.print(f"submit with: sbatch {job.script}", highlight=False)
    console.print(f"then: dcellx sweep-status {job.sweep_dir}", highlight=False)


# Each array command: its own options, the SLURM options, then the run options.
@app.command("compare")
@with_options(run_options, "flags")
@with_options(slurm_options, "array")
def compare(
    variants: VariantsOpt = "binary,embedding",
    seeds: SeedsPerVariantOpt = 3,
    mode: ModeOpt = DEFAULT_MODE,
    grid: GridOpt = None,
    *,
    array: ArrayFlags,
    flags: RunFlags,
) -> None:
    """A SLURM job array of variants x grid x seeds: one task per run, one sweep directory."""
    _array(mode, variants, seeds, grid, array, flags)


@with_options(run_options, "flags")
@with_options(slurm_options, "array")
def array_command(
    ctx: typer.Context,
    seeds: ArraySeedsOpt = 1,
    grid: GridOpt = None,
    *,
    array: ArrayFlags,
    flags: RunFlags,
) -> None:
    """``slurm overfit`` and ``slurm train``: one parameter list, the mode is the command's name."""
    _array(ctx.info_name, None, seeds, grid, array, flags)


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
