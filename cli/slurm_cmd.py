"""``dcellx slurm compare|overfit|train``, ``dcellx sweep-run`` and ``dcellx sweep-status``: parse
flags and call ``dcellx.scale`` (script generation and submission, one point per array task, the
tasks' state). The run flags are the ones ``overfit``/``train``/``compare`` take (``RUN_OPTIONS``).
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cli.train_cmd import _opt, _with_options, run_spec
from dcellx.errors import ConfigError
from dcellx.scale.slurm import SlurmOptions, status_json, submit, sweep_status, write_array
from dcellx.scale.task import run_task
from dcellx.train.compare import parse_grid, plan_sweep
from dcellx.train.loop import RunInterrupted

console = Console()
app = typer.Typer(no_args_is_help=True)

SLURM_OPTIONS: list[inspect.Parameter] = [
    _opt("partition", str | None, None, "SLURM partition (default: the cluster's)."),
    _opt("time", str | None, None, "Time limit per task: minutes, HH:MM:SS or D-HH:MM:SS."),
    _opt("gpus", int, 0, "GPUs per node."),
    _opt("cpus", int | None, None, "CPUs per task (also the torch threads unless --threads)."),
    _opt("mem", str | None, None, "Memory per node, e.g. 16G."),
    _opt("array_parallel", int | None, None, "At most K array tasks at once (--array=...%K)."),
    _opt("signal", str, "B:TERM@120", "Signal before the time limit ([B:]SIG@seconds)."),
    _opt("nodes", int, 1, "--ddp: nodes per task."),
    _opt("ntasks_per_node", int | None, None, "--ddp: ranks per node (default: --gpus or 1)."),
    _opt("job_name", str | None, None, "Job name (default: dcellx-<sweep id>)."),
    _opt("sbatch", list[str] | None, None, "Further sbatch option, e.g. --account=lab."),
    _opt("ddp", bool, False, "Each task trains data-parallel under srun (--nodes, --gpus)."),
    _opt("sync_bn", bool, False, "--ddp: BatchNorm statistics over the global batch."),
    _opt("sweep_dir", Path | None, None, "Use this sweep directory (default: a new one)."),
    _opt("submit", bool, False, "Submit with sbatch and print the job id."),
    _opt("json", bool, False, "Print the result as JSON."),
]
_SWEEP = [
    _opt("seeds", int, 1, "Seeds (from --seed): one array task each."),
    _opt("grid", list[str] | None, None, "key=v1,v2 (repeatable): one task per grid point."),
]


def _slurm_options(opts: dict[str, Any]) -> SlurmOptions:
    names = ("partition", "time", "gpus", "cpus", "mem", "array_parallel", "signal", "nodes")
    out = SlurmOptions(**{k: opts.pop(k) for k in names})
    out.ntasks_per_node, out.job_name = opts.pop("ntasks_per_node"), opts.pop("job_name")
    out.extra = opts.pop("sbatch") or []
    return out


def _array(mode: str, variants: list[str] | None, opts: dict[str, Any]) -> None:
    """Plan the sweep, write its sbatch script and (``--submit``) submit it."""
    slurm = _slurm_options(opts)
    ddp, sync_bn, sweep_dir = opts.pop("ddp"), opts.pop("sync_bn"), opts.pop("sweep_dir")
    do_submit, as_json = opts.pop("submit"), opts.pop("json")
    seeds, grid = opts.pop("seeds"), parse_grid(opts.pop("grid"))
    spec = run_spec(opts)
    if variants is None:  # overfit / train: the one --variant
        variants = [spec.fields.pop("variant", "binary")]
    else:
        spec.fields.setdefault("keep_checkpoints", "none")  # sweeps keep metrics, not weights
    if slurm.cpus and "threads" not in spec.fields:
        spec.fields["threads"] = slurm.cpus
    first = spec.fields.pop("seed", 0)
    plan = plan_sweep(variants, [first + i for i in range(seeds)], mode, grid, spec)
    job = write_array(plan, slurm, sweep_dir, spec.fields.get("runs_dir", "runs"), ddp, sync_bn)
    if not ddp and not slurm.signals_batch_shell():
        typer.secho(
            f"warning: --signal {slurm.signal} signals job steps only; dcellx runs in the batch "
            "step, so it will not hear of the time limit (use B:...)", fg="yellow", err=True,
        )  # fmt: skip
    if do_submit:
        submit(job)
    if as_json:
        out = {"sweep_dir": str(job.sweep_dir), "script": str(job.script), "tasks": job.points}
        typer.echo(json.dumps({**out, "job_id": job.job_id}))
        return
    console.print(f"{job.script}: {job.points} array tasks", highlight=False)
    if job.job_id:
        console.print(f"submitted job {job.job_id}", highlight=False)
    else:
        console.print(f"submit with: sbatch {job.script}", highlight=False)
    console.print(f"then: dcellx sweep-status {job.sweep_dir}", highlight=False)


@app.command("compare")
@_with_options(
    [
        _opt("variants", str, "binary,embedding", "Comma-separated variants."),
        _opt("seeds", int, 3, "Seeds per variant (from --seed)."),
        _opt("mode", str, "overfit", "overfit or train."),
        _SWEEP[1],
        *SLURM_OPTIONS,
    ]
)
def compare(**opts: Any) -> None:
    """A SLURM job array of variants x grid x seeds: one task per run, one sweep directory."""
    variants = [v.strip() for v in opts.pop("variants").split(",") if v.strip()]
    mode = opts.pop("mode")
    if mode not in ("overfit", "train"):
        raise ConfigError(f"--mode must be overfit or train, not {mode!r}")
    _array(mode, variants, opts)


@app.command("overfit")
@_with_options([*_SWEEP, *SLURM_OPTIONS])
def overfit(**opts: Any) -> None:
    """A SLURM job array of overfit runs (one per seed and grid point)."""
    _array("overfit", None, opts)


@app.command("train")
@_with_options([*_SWEEP, *SLURM_OPTIONS])
def train(**opts: Any) -> None:
    """A SLURM job array of train runs (one per seed and grid point)."""
    _array("train", None, opts)


def sweep_run(
    sweep_dir: Annotated[Path, typer.Argument(help="A sweep directory (holds sweep.json).")],
    point: Annotated[int, typer.Option("--point", help="Index of the planned point.")],
    ddp: Annotated[bool, typer.Option("--ddp", help="Data parallel (torchrun/srun).")] = False,
    sync_bn: Annotated[bool, typer.Option("--sync-bn", help="--ddp: global BN stats.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Run one point of a sweep: skip it if finished, resume it if interrupted, else start it."""
    try:
        result, main = run_task(sweep_dir, point, ddp, sync_bn, quiet, console)
    except RunInterrupted as exc:
        typer.secho(str(exc), fg="yellow", err=True)
        raise typer.Exit(exc.exit_code) from None
    if main:
        best = result.summary.get("best_pearson_eval_bn")
        line = f"{result.run_dir}: finished" + (f", best eval-BN r {best:.4f}" if best else "")
        console.print(line, highlight=False, soft_wrap=True)


def sweep_status_cmd(
    sweep_dir: Annotated[Path, typer.Argument(help="A sweep directory (holds sweep.json).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Each planned point: finished, running, pending, interrupted, failed or missing (exit 1 if
    any failed or is missing). ``dcellx compare --collect DIR`` builds the tables."""
    statuses = sweep_status(sweep_dir)
    if as_json:
        typer.echo(status_json(statuses))
    else:
        t = Table(title=f"sweep {sweep_dir.name}")
        for col in ("point", "run", "state", "epochs", "run id", "SLURM"):
            t.add_column(col)
        for s in statuses:
            t.add_row(str(s.point), s.label, s.state, str(s.epochs or ""), s.run_id or "",
                      s.slurm or "")  # fmt: skip
        console.print(t)
        counts: dict[str, int] = {}
        for s in statuses:
            counts[s.state] = counts.get(s.state, 0) + 1
        console.print(", ".join(f"{n} {k}" for k, n in sorted(counts.items())), highlight=False)
    if any(s.state in ("failed", "missing") for s in statuses):
        raise typer.Exit(1)


def register(main_app: typer.Typer) -> None:
    main_app.add_typer(app, name="slurm", help="SLURM job arrays: write and submit sbatch scripts.")
    main_app.command("sweep-run")(sweep_run)
    main_app.command("sweep-status")(sweep_status_cmd)
