"""``dcellx overfit | train | compare | predict``: parse flags, build a validated ``RunConfig``
(``dcellx.train.config``), call the library.

``overfit``, ``train`` and ``compare`` take the same run options, declared once as the
parameters of ``dcellx_cli.run_options.run_options``, which ``with_options`` appends to each
command's own and parses into one ``RunFlags``. Any config field without a flag can be set with
``--set key=value`` (repeatable; ``model.<field>`` / ``ontology.<field>`` where ambiguous).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from dcellx.errors import ConfigError
from dcellx.scale.ddp import session as ddp_session
from dcellx.train.compare import collect, plan_cli_sweep, run_sweep, sweep_table
from dcellx.train.config import DEFAULT_MODE
from dcellx.train.loop import RunInterrupted, RunResult, resume, run
from dcellx.train.predict import predict as predict_run
from dcellx_cli.common import (
    DdpOpt,
    ModeOpt,
    ResumeOpt,
    SeedsPerVariantOpt,
    SyncBnOpt,
    VariantsOpt,
    with_options,
)
from dcellx_cli.devices import ModelDeviceOpt
from dcellx_cli.run_options import RunFlags, run_options

console = Console()


def _report(result: RunResult) -> None:
    s = result.summary

    def f(key: str) -> str:
        v = s.get(key)
        return "nan" if v is None else f"{v:.4f}"

    line = (
        f"{result.run_dir}: best eval-BN Pearson {f('best_pearson_eval_bn')} "
        f"(epoch {s.get('best_epoch')}); final train-BN {f('final_pearson_train_bn')}, "
        f"eval-BN {f('final_pearson_eval_bn')}; {s.get('epochs')} epochs in {s.get('seconds')} s"
    )
    if s.get("status") == "max_steps":
        line += f" (stopped at --max-steps {s.get('max_steps')})"
    if s.get("test_pearson") is not None:
        line += f"; test Pearson {f('test_pearson')}, R² {f('test_r2')}"
    console.print(line, highlight=False, soft_wrap=True)


def _run_mode(
    mode: str, flags: RunFlags, resume_dir: Path | None, ddp: bool, sync_bn: bool
) -> None:
    main = True
    try:
        if resume_dir is not None:
            checked = flags.resume_flags()  # only what the command line gave
            quiet = True if flags.quiet else None
            with ddp_session(ddp, sync_bn, run_dir=resume_dir) as comm:
                main = comm is None or comm.is_main
                result = resume(
                    resume_dir, console=console, quiet=quiet, comm=comm, mode=mode, flags=checked
                )
        else:
            cfg = flags.spec(mode).config(mode=mode)
            with ddp_session(ddp, sync_bn, device=cfg.device) as comm:
                main = comm is None or comm.is_main
                if not cfg.quiet and main:
                    what = f"--go {cfg.go}, {cfg.data}, variant {cfg.variant}, seed {cfg.seed}"
                    console.print(f"{mode}: {what}, {cfg.threads} threads", highlight=False)
                result = run(cfg, console=console, comm=comm)
    except RunInterrupted as exc:
        if main:
            typer.secho(str(exc), fg="yellow", err=True)
        raise typer.Exit(exc.exit_code) from None
    if main:
        _report(result)
        if mode == "overfit" and (result.run_dir / "summary.json").exists():
            _verdict(result.run_dir)


def _verdict(run_dir: Path) -> None:
    """The run's own verdict (``dcellx.diagnose.verdict``); a failure to measure is one line."""
    from dcellx.diagnose.verdict import overfit_facts, verdict_text
    from dcellx.errors import DcellxError

    try:
        text = verdict_text(overfit_facts(run_dir))
    except (DcellxError, OSError) as exc:
        console.print(f"[yellow]verdict not available:[/] {exc}", highlight=False)
        return
    console.print(f"[bold]verdict:[/] {text}", highlight=False)


# Every run command takes its own options, then the run options (``run_options``).
@with_options(run_options, "flags")
def run_command(
    ctx: typer.Context,
    resume: ResumeOpt = None,
    ddp: DdpOpt = False,
    sync_bn: SyncBnOpt = False,
    *,
    flags: RunFlags,
) -> None:
    """``overfit`` and ``train``: one parameter list, the mode is the command's name."""
    _run_mode(ctx.info_name, flags, resume, ddp, sync_bn)


@with_options(run_options, "flags")
def compare(
    variants: VariantsOpt = "binary,embedding",
    seeds: SeedsPerVariantOpt = 3,
    mode: ModeOpt = DEFAULT_MODE,
    grid: Annotated[
        list[str] | None,
        typer.Option("--grid", help="key=v1,v2 (repeatable): sweep any config field."),
    ] = None,
    sweep_dir: Annotated[
        Path | None,
        typer.Option("--sweep-dir", help="Use this sweep directory (e.g. SLURM arrays)."),
    ] = None,
    point: Annotated[
        list[int] | None,
        typer.Option("--point", help="Run only these point indices (repeatable)."),
    ] = None,
    collect_dir: Annotated[
        Path | None,
        typer.Option("--collect", help="Only rebuild the tables and plot of a sweep dir."),
    ] = None,
    *,
    flags: RunFlags,
) -> None:
    """Run variants x grid x seeds as separate runs in one sweep dir; tables and one plot."""
    if collect_dir is not None:
        result = collect(collect_dir)
    else:
        spec = flags.spec(mode)
        plan = plan_cli_sweep(spec, mode, seeds, grid, variants)
        try:
            result = run_sweep(
                plan,
                sweep_dir,
                spec.run_field("runs_dir"),
                point,
                quiet=flags.quiet,
                console=console,
            )
        except RunInterrupted as exc:
            typer.secho(str(exc), fg="yellow", err=True)
            raise typer.Exit(exc.exit_code) from None
    console.print(sweep_table(result))
    console.print(f"{result.sweep_dir}: compare.csv, summary.csv, compare.png", highlight=False)
    if result.missing or result.failed:
        for p in result.missing:
            typer.secho(f"missing: {p}", fg="yellow", err=True)
        for r in result.failed:
            typer.secho(f"not finished: {r}", fg="yellow", err=True)
        raise typer.Exit(1)


def predict(
    run: Annotated[Path, typer.Option("--run", help="A run directory, runs/<id>.")],
    data: Annotated[str, typer.Option("--data", help="Registered dataset or genotype file.")],
    out: Annotated[Path, typer.Option("--out", help="Output CSV: genes, prediction, measured.")],
    go: Annotated[
        str | None, typer.Option("--go", help="Rebuild this ontology instead of the run's.")
    ] = None,
    weights: Annotated[str, typer.Option(help="best or last.")] = "best",
    split: Annotated[str | None, typer.Option(help="Named dataset split (default: test).")] = None,
    device: ModelDeviceOpt = "cpu",
    force: Annotated[
        bool,
        typer.Option(help="Write --out even where it is the --data file or inside a run."),
    ] = False,
) -> None:
    """Predict phenotypes (original units) with a run's weights; refuses a different ontology."""
    if weights not in ("best", "last"):
        raise ConfigError(f"--weights must be best or last, not {weights!r}")
    report = predict_run(
        run, data, out, go=go, weights=weights, split=split, device=device, force=force
    )
    line = f"{report['out']}: {report['genotypes']} predictions"
    if "pearson" in report:
        line += f"; Pearson {report['pearson']:.4f}, Spearman {report['spearman']:.4f}, "
        line += f"MSE {report['mse']:.4g}, R² {report['r2']:.4f}"
    console.print(line, highlight=False, soft_wrap=True)


OVERFIT_HELP = (
    "Train repeatedly on one fixed batch; Pearson per epoch in train- and eval-mode BatchNorm."
)
TRAIN_HELP = "Full training: seeded train/val split, early stopping, schedulers, test metrics."


def register(app: typer.Typer) -> None:
    app.command("overfit", help=OVERFIT_HELP)(run_command)
    app.command("train", help=TRAIN_HELP)(run_command)
    app.command("compare")(compare)
    app.command("predict")(predict)
