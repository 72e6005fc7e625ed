"""``dcellx overfit | train | compare | predict``: parse flags, build a validated ``RunConfig``
(``dcellx.train.config``), call the library.

``overfit``, ``train`` and ``compare`` share one option list (``RUN_OPTIONS``); their signatures are
assembled from it so that a flag is declared once. Any config field without a flag can be set with
``--set key=value`` (repeatable; ``model.<field>`` / ``ontology.<field>`` where ambiguous).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from cli.common import DateCutoffOpt, GafOpt, GoOpt, MinGenesOpt, OboOpt, UniverseOpt
from dcellx.errors import ConfigError
from dcellx.scale.ddp import session as ddp_session
from dcellx.train.compare import RunSpec, collect, parse_grid, plan_sweep, run_sweep, sweep_table
from dcellx.train.config import parse_assignments
from dcellx.train.loop import RunInterrupted, RunResult, resume, run
from dcellx.train.predict import predict as predict_run

console = Console()

MODEL_FLAGS = (
    "norm",
    "bn_freeze_after",
    "width_floor",
    "width_multiplier",
    "alpha",
    "aux_reduce",
    "alpha_decay_epochs",
    "depth",
    "l2",
    "embedding_dim",
    "attention_heads",
    "deletion_rule",
)


def _opt(name: str, typ: Any, default: Any, help: str, *flags: str) -> inspect.Parameter:
    flag = flags or (f"--{name.replace('_', '-')}",)
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=default,
        annotation=Annotated[typ, typer.Option(*flag, help=help)],
    )


_MODEL = "Model override (default: the preset's)."
RUN_OPTIONS: list[inspect.Parameter] = [
    # --go and --preset default to None so that --resume can tell a given flag from a default
    inspect.Parameter("go", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=GoOpt),
    inspect.Parameter("obo", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=OboOpt),
    inspect.Parameter("gaf", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=GafOpt),
    inspect.Parameter(
        "date_cutoff", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=DateCutoffOpt
    ),
    inspect.Parameter(
        "min_genes", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=MinGenesOpt
    ),
    inspect.Parameter(
        "universe", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=UniverseOpt
    ),
    _opt("data", str | None, None, "Registered dataset or genotype file [dcell-dna-repair)."),
    _opt("test_data", str | None, None, "train: test file (default: the dataset's test split)."),
    _opt(
        "unknown_genes",
        str | None,
        None,
        "Genes the ontology lacks: warn (one line; they are invisible to the model), error or "
        "ignore (default: warn).",
    ),  # fmt: skip
    _opt(
        "duplicates",
        str | None,
        None,
        "A genotype measured twice with different values: mean (averaged, with a warning) or "
        "error (default: mean).",
    ),  # fmt: skip
    _opt("batch_size", int | None, None, "Genotypes per batch (default: 32)."),
    _opt("batch_seed", int | None, None, "overfit: draw the batch with this seed (else first N)."),
    _opt("epochs", int | None, None, "Epochs (default: overfit 500, train 100)."),
    _opt(
        "fit_stop_pearson",
        float | None,
        None,
        "overfit: stop once train-mode Pearson >= this for --fit-stop-epochs epochs in a row.",
    ),
    _opt("fit_stop_epochs", int | None, None, "overfit: epochs of --fit-stop-pearson [20]."),
    _opt(
        "variant",
        str | None,
        None,
        "binary, embedding[-pooled|-deepset|-attention], "
        "shuffled-ontology, shuffled-labels, mlp; baselines additive, pairwise "
        "(default: binary).",
    ),  # fmt: skip
    _opt("preset", str | None, None, "paper, lua, lua-released, torchcell or dcell-new [paper]."),
    _opt("norm", str | None, None, "batch, batch-frozen, layer or none. " + _MODEL),
    _opt("bn_freeze_after", int | None, None, "batch-frozen: steps before freezing. " + _MODEL),
    _opt("width_floor", int | None, None, "Minimum neurons per term. " + _MODEL),
    _opt("width_multiplier", float | None, None, "Neurons per contained gene. " + _MODEL),
    _opt("alpha", float | None, None, "Auxiliary loss weight. " + _MODEL),
    _opt("aux_reduce", str | None, None, "sum or mean over auxiliary terms. " + _MODEL),
    _opt("alpha_decay_epochs", int | None, None, "Decay alpha to 0 over N epochs. " + _MODEL),
    _opt("depth", int | None, None, "Layers per subsystem. " + _MODEL),
    _opt("l2", float | None, None, "L2 penalty on weights. " + _MODEL),
    _opt("embedding_dim", int | None, None, "Gene embedding size. " + _MODEL),
    _opt("attention_heads", int | None, None, "embedding-attention heads. " + _MODEL),
    _opt(
        "deletion_rule",
        str | None,
        None,
        "exact, or torchcell-index-guard (a deletion of g counts in term t only if g's "
        "vocabulary position < |direct(t)|: torchcell's defect). " + _MODEL,
    ),  # fmt: skip
    _opt("lr", float | None, None, "Adam learning rate (default: 1e-3)."),
    _opt("scheduler", str | None, None, "none, cosine or plateau (default: none)."),
    _opt("seed", int | None, None, "Seed of initialisation and data order (default: 0)."),
    _opt("runs_dir", str | None, None, "Where run directories go (default: runs)."),
    _opt("threads", int | None, None, "torch threads (recorded; fixes the arithmetic)."),
    _opt("device", str | None, None, "torch device (default: cpu)."),
    _opt("label_norm", str | None, None, "zscore or none (default: zscore)."),
    _opt(
        "split",
        str | None,
        None,
        "train: random (val from the training file, the dataset's test file) or genes|pairs "
        "(train+test pooled and re-split: test genotypes hold an unseen gene / pair).",
    ),  # fmt: skip
    _opt("holdout_fraction", float | None, None, "genes/pairs: test genotypes (default: 0.2)."),
    _opt("split_seed", int | None, None, "Seed of the split (default: --seed)."),
    _opt("checkpoint_every", int | None, None, "Checkpoint every N epochs (default: ~5 min)."),
    _opt("keep_checkpoints", str | None, None, "last, best, all, none (default: last)."),
    _opt("set_", list[str] | None, None, "Any config field: key=value (repeatable).", "--set"),
    _opt("quiet", bool, False, "No progress output.", "--quiet", "-q"),
]


def _with_options(extra: list[inspect.Parameter]) -> Callable[[Callable], Callable]:
    """Give a ``**opts`` command the signature Typer reads: ``RUN_OPTIONS`` plus ``extra``."""

    def deco(fn: Callable) -> Callable:
        fn.__signature__ = inspect.Signature([*extra, *RUN_OPTIONS])  # type: ignore[attr-defined]
        return fn

    return deco


def run_spec(opts: dict[str, Any], defaults: bool = True) -> RunSpec:
    """Split parsed options into preset / model / ontology / run fields / --set. ``defaults``:
    fill in ``--go 2017`` and ``--preset paper`` where not given (``False``: leave them out, as
    ``--resume`` needs to see only what was given)."""
    if defaults:
        opts["go"] = opts["go"] or "2017"
        opts["preset"] = opts["preset"] or "paper"
    model = {k: opts.pop(k) for k in MODEL_FLAGS}
    ontology = {
        "obo": opts.pop("obo"),
        "annotations": opts.pop("gaf"),
        "date_cutoff": opts.pop("date_cutoff"),
        "min_genes": opts.pop("min_genes"),
        "universe": opts.pop("universe"),
    }
    sets = parse_assignments(opts.pop("set_"))
    preset = opts.pop("preset")

    def clean(d: dict[str, Any]) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items() if v is not None}

    return RunSpec(
        preset=preset or "paper",
        model=clean(model),
        ontology=clean(ontology),
        fields=clean(opts),
        sets=sets,
    )


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
    if s.get("test_pearson") is not None:
        line += f"; test Pearson {f('test_pearson')}, R² {f('test_r2')}"
    console.print(line, highlight=False, soft_wrap=True)


def _run_mode(mode: str, opts: dict[str, Any]) -> None:
    resume_dir = opts.pop("resume")
    ddp, sync_bn = opts.pop("ddp"), opts.pop("sync_bn")
    main = True
    try:
        if resume_dir is not None:
            quiet = True if opts.pop("quiet") else None
            given_preset = opts["preset"]
            spec = run_spec(opts, defaults=False)  # only what the command line gave
            flags = {"preset": given_preset, **spec.model_dump(exclude={"preset"})}
            with ddp_session(ddp, sync_bn, run_dir=resume_dir) as comm:
                main = comm is None or comm.is_main
                result = resume(
                    resume_dir, console=console, quiet=quiet, comm=comm, mode=mode, flags=flags
                )
        else:
            cfg = run_spec(opts).config(mode=mode)
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


_RESUME = _opt("resume", Path | None, None, "Continue runs/<id> from its checkpoint-last.pt.")
_DDP = [
    _opt("ddp", bool, False, "Data parallel over the processes of torchrun or srun."),
    _opt("sync_bn", bool, False, "--ddp: BatchNorm statistics over the global batch."),
]


@_with_options([_RESUME, *_DDP])
def overfit(**opts: Any) -> None:
    """Train repeatedly on one fixed batch; Pearson per epoch in train- and eval-mode BatchNorm."""
    _run_mode("overfit", opts)


@_with_options([_RESUME, *_DDP])
def train(**opts: Any) -> None:
    """Full training: seeded train/val split, early stopping, schedulers, test metrics."""
    _run_mode("train", opts)


@_with_options(
    [
        _opt("variants", str, "binary,embedding", "Comma-separated variants."),
        _opt("seeds", int, 3, "Seeds per variant (from --seed)."),
        _opt("mode", str, "overfit", "overfit or train."),
        _opt("grid", list[str] | None, None, "key=v1,v2 (repeatable): sweep any config field."),
        _opt("sweep_dir", Path | None, None, "Use this sweep directory (e.g. SLURM arrays)."),
        _opt("point", list[int] | None, None, "Run only these point indices (repeatable)."),
        _opt("collect", Path | None, None, "Only rebuild the tables and plot of a sweep dir."),
    ]
)
def compare(**opts: Any) -> None:
    """Run variants x grid x seeds as separate runs in one sweep dir; tables and one plot."""
    variants, seeds, mode = opts.pop("variants"), opts.pop("seeds"), opts.pop("mode")
    grid, sweep_dir, points = opts.pop("grid"), opts.pop("sweep_dir"), opts.pop("point")
    collect_dir = opts.pop("collect")
    if collect_dir is not None:
        result = collect(collect_dir)
    else:
        if mode not in ("overfit", "train"):
            raise ConfigError(f"--mode must be overfit or train, not {mode!r}")
        if seeds < 1:
            raise ConfigError(f"--seeds must be at least 1, not {seeds}")
        quiet = opts["quiet"]
        spec = run_spec(opts)
        spec.fields.setdefault("keep_checkpoints", "none")  # sweeps keep metrics, not weights
        first = spec.fields.pop("seed", 0)
        runs_dir = spec.fields.get("runs_dir", "runs")
        names = [v.strip() for v in variants.split(",") if v.strip()]
        plan = plan_sweep(names, [first + i for i in range(seeds)], mode, parse_grid(grid), spec)
        try:
            result = run_sweep(plan, sweep_dir, runs_dir, points, quiet=quiet, console=console)
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
    device: Annotated[str, typer.Option(help="torch device.")] = "cpu",
) -> None:
    """Predict phenotypes (original units) with a run's weights; refuses a different ontology."""
    if weights not in ("best", "last"):
        raise ConfigError(f"--weights must be best or last, not {weights!r}")
    report = predict_run(run, data, out, go=go, weights=weights, split=split, device=device)
    line = f"{report['out']}: {report['genotypes']} predictions"
    if "pearson" in report:
        line += f"; Pearson {report['pearson']:.4f}, Spearman {report['spearman']:.4f}, "
        line += f"MSE {report['mse']:.4g}, R² {report['r2']:.4f}"
    console.print(line, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("overfit")(overfit)
    app.command("train")(train)
    app.command("compare")(compare)
    app.command("predict")(predict)
