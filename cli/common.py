"""Options shared by several commands, each declared once here as an ``Annotated`` alias.

A command lists the aliases as ordinary parameters (``go: GoOpt = "2017"``), so its flags are
visible to readers and IDEs. Groups:

* ontology selection: ``ontology build|stats|export``, ``bench``, ``diagnose`` and the run commands;
* run options: ``overfit``, ``train``, ``compare`` and ``slurm compare|overfit|train`` take the
  same flags with the same help; ``run_spec`` turns the parsed values into a ``RunSpec``;
* sweep options: ``compare`` and ``slurm compare``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from dcellx.ontology.recipe import named_recipes
from dcellx.train.compare import RunSpec
from dcellx.train.config import parse_assignments
from dcellx.train.config_file import with_config_file

# --- ontology selection ------------------------------------------------------------------------
_GO = typer.Option(
    "--go",
    help=f"Ontology recipe: {', '.join(named_recipes())} (ontologies/, $DCELLX_ONTOLOGIES), "
    "or a .toml path.",
)
GoOpt = Annotated[str, _GO]
RunGoOpt = Annotated[str | None, _GO]  # run commands: None = 2017, or the resumed run's
OboOpt = Annotated[
    Path | None, typer.Option("--obo", help="Override the recipe's ontology file (OBO).")
]
GafOpt = Annotated[
    Path | None,
    typer.Option("--gaf", "--annotations", help="Override the recipe's annotation file (GAF/TSV)."),
]
DateCutoffOpt = Annotated[
    str | None,
    typer.Option("--date-cutoff", help="Keep annotations dated on or before YYYY-MM-DD."),
]
MinGenesOpt = Annotated[
    int | None, typer.Option("--min-genes", help="Containment filter: keep terms with >= n genes.")
]
UniverseOpt = Annotated[
    str | None,
    typer.Option(
        "--universe",
        help="Containment universe / input genes: annotated, a gene-list file, dataset:<name>.",
    ),
]


def ontology_overrides(
    obo: Path | None,
    gaf: Path | None,
    date_cutoff: str | None,
    min_genes: int | None,
    universe: str | None,
) -> dict[str, object]:
    """Collect the recipe overrides a command received (``None`` = keep the recipe's)."""
    return {
        "obo": obo,
        "annotations": gaf,
        "date_cutoff": date_cutoff,
        "min_genes": min_genes,
        "universe": universe,
    }


# --- run options (every one defaults to None = the config's default; --go/--preset too, so that
# --resume can tell a given flag from a default) -------------------------------------------------
def _flag(name: str, help: str, *more: str) -> Any:
    return typer.Option(f"--{name}", *more, help=help)


_MODEL = "Model override (default: the preset's)."
DataOpt = Annotated[
    str | None, _flag("data", "Registered dataset or genotype file [dcell-dna-repair).")
]
TestDataOpt = Annotated[
    str | None, _flag("test-data", "train: test file (default: the dataset's test split).")
]
UnknownGenesOpt = Annotated[
    str | None,
    _flag(
        "unknown-genes",
        "Genes the ontology lacks: warn (one line; they are invisible to the model), error or "
        "ignore (default: warn).",
    ),
]
DuplicatesOpt = Annotated[
    str | None,
    _flag(
        "duplicates",
        "A genotype measured twice with different values: mean (averaged, with a warning) or "
        "error (default: mean).",
    ),
]
BatchSizeOpt = Annotated[int | None, _flag("batch-size", "Genotypes per batch (default: 32).")]
BatchSeedOpt = Annotated[
    int | None, _flag("batch-seed", "overfit: draw the batch with this seed (else first N).")
]
EpochsOpt = Annotated[int | None, _flag("epochs", "Epochs (default: overfit 500, train 100).")]
MaxStepsOpt = Annotated[
    int | None,
    _flag(
        "max-steps",
        "Stop after N optimiser steps in all, across epochs and --resume (train: minibatches, "
        "overfit: epochs); the last epoch is scored as far as it got.",
    ),
]
FitStopPearsonOpt = Annotated[
    float | None,
    _flag(
        "fit-stop-pearson",
        "overfit: stop once train-mode Pearson >= this for --fit-stop-epochs epochs in a row.",
    ),
]
FitStopEpochsOpt = Annotated[
    int | None, _flag("fit-stop-epochs", "overfit: epochs of --fit-stop-pearson [20].")
]
VariantOpt = Annotated[
    str | None,
    _flag(
        "variant",
        "binary, embedding[-pooled|-deepset|-attention], shuffled-ontology, shuffled-labels, mlp; "
        "baselines additive, pairwise (default: binary).",
    ),
]
PresetOpt = Annotated[
    str | None, _flag("preset", "paper, lua, lua-released, torchcell or dcell-new [paper].")
]
NormOpt = Annotated[str | None, _flag("norm", "batch, batch-frozen, layer or none. " + _MODEL)]
BnFreezeAfterOpt = Annotated[
    int | None, _flag("bn-freeze-after", "batch-frozen: steps before freezing. " + _MODEL)
]
WidthFloorOpt = Annotated[int | None, _flag("width-floor", "Minimum neurons per term. " + _MODEL)]
WidthMultiplierOpt = Annotated[
    float | None, _flag("width-multiplier", "Neurons per contained gene. " + _MODEL)
]
AlphaOpt = Annotated[float | None, _flag("alpha", "Auxiliary loss weight. " + _MODEL)]
AuxReduceOpt = Annotated[
    str | None, _flag("aux-reduce", "sum or mean over auxiliary terms. " + _MODEL)
]
AlphaDecayEpochsOpt = Annotated[
    int | None, _flag("alpha-decay-epochs", "Decay alpha to 0 over N epochs. " + _MODEL)
]
DepthOpt = Annotated[int | None, _flag("depth", "Layers per subsystem. " + _MODEL)]
L2Opt = Annotated[float | None, _flag("l2", "L2 penalty on weights. " + _MODEL)]
EmbeddingDimOpt = Annotated[int | None, _flag("embedding-dim", "Gene embedding size. " + _MODEL)]
AttentionHeadsOpt = Annotated[
    int | None, _flag("attention-heads", "embedding-attention heads. " + _MODEL)
]
DeletionRuleOpt = Annotated[
    str | None,
    _flag(
        "deletion-rule",
        "exact, or torchcell-index-guard (a deletion of g counts in term t only if g's "
        "vocabulary position < |direct(t)|: torchcell's defect). " + _MODEL,
    ),
]
LrOpt = Annotated[float | None, _flag("lr", "Adam learning rate (default: 1e-3).")]
SchedulerOpt = Annotated[str | None, _flag("scheduler", "none, cosine or plateau (default: none).")]
SeedOpt = Annotated[
    int | None, _flag("seed", "Seed of initialisation and data order (default: 0).")
]
RunsDirOpt = Annotated[str | None, _flag("runs-dir", "Where run directories go (default: runs).")]
ThreadsOpt = Annotated[
    int | None, _flag("threads", "torch threads (recorded; fixes the arithmetic).")
]
DeviceOpt = Annotated[str | None, _flag("device", "torch device (default: cpu).")]
LabelNormOpt = Annotated[str | None, _flag("label-norm", "zscore or none (default: zscore).")]
SplitOpt = Annotated[
    str | None,
    _flag(
        "split",
        "train: random (val from the training file, the dataset's test file) or genes|pairs "
        "(train+test pooled and re-split: test genotypes hold an unseen gene / pair).",
    ),
]
HoldoutFractionOpt = Annotated[
    float | None, _flag("holdout-fraction", "genes/pairs: test genotypes (default: 0.2).")
]
SplitSeedOpt = Annotated[int | None, _flag("split-seed", "Seed of the split (default: --seed).")]
ScoreSampleOpt = Annotated[
    int | None,
    _flag(
        "score-sample",
        "train: score at most N rows of each split (validation every epoch, all splits at the "
        "end), a sample fixed by --seed (default: every row).",
    ),
]
CheckpointEveryOpt = Annotated[
    int | None, _flag("checkpoint-every", "Checkpoint every N epochs (default: ~5 min).")
]
KeepCheckpointsOpt = Annotated[
    str | None,
    _flag(
        "keep-checkpoints",
        "What a finished run keeps: best (weights-best.pt; default), last (also "
        "checkpoint-last.pt, the optimiser state), all (also every checkpoint-eN.pt) or none. "
        "checkpoint-last.pt stays while the run can be resumed.",
    ),
]
LogOpt = Annotated[
    list[str] | None,
    _flag(
        "log",
        "Also send each epoch's metrics.csv values and the config to tensorboard (event files in "
        "the run directory) or wandb (offline unless WANDB_MODE=online); repeatable. Needs the "
        "extra: pip install 'dcellx[tensorboard]' / 'dcellx[wandb]'.",
    ),
]
ConfigFileOpt = Annotated[
    Path | None,
    _flag(
        "config",
        "A TOML or JSON file of run fields (any subset; a finished run's config.json reruns it); "
        "flags override it. `dcellx config show` prints the result.",
    ),
]
SetOpt = Annotated[list[str] | None, _flag("set", "Any config field: key=value (repeatable).")]
QuietOpt = Annotated[bool, _flag("quiet", "No progress output.", "-q")]

# overfit / train only
ResumeOpt = Annotated[
    Path | None, _flag("resume", "Continue runs/<id> from its checkpoint-last.pt.")
]
DdpOpt = Annotated[bool, _flag("ddp", "Data parallel over the processes of torchrun or srun.")]
SyncBnOpt = Annotated[bool, _flag("sync-bn", "--ddp: BatchNorm statistics over the global batch.")]

# --- sweep options: compare and slurm compare --------------------------------------------------
VariantsOpt = Annotated[str, _flag("variants", "Comma-separated variants.")]
SeedsPerVariantOpt = Annotated[int, _flag("seeds", "Seeds per variant (from --seed).")]
ModeOpt = Annotated[str, _flag("mode", "overfit or train.")]

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


def flag_spec(opts: dict[str, Any]) -> tuple[RunSpec, str | None, Path | None]:
    """The run options the command line gave (parameter name -> value; ``None`` means not
    given) split into preset / model / ontology / run fields / --set; with ``--preset`` (or
    None) and ``--config`` (or None)."""
    opts = dict(opts)
    config_file = opts.pop("config_file", None)
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

    spec = RunSpec(
        preset=preset or "paper",
        model=clean(model),
        ontology=clean(ontology),
        fields=clean(opts),
        sets=sets,
    )
    return spec, preset, config_file


def run_spec(opts: dict[str, Any], defaults: bool = True, mode: str | None = None) -> RunSpec:
    """The run the options describe: ``--config FILE`` beneath the flags
    (``dcellx.train.config_file``; ``mode``: the command's, which a file naming another mode
    contradicts). ``defaults``: fill in ``--go 2017`` where neither gave it (``False``: leave it
    out, as ``--resume`` needs to see only what was given)."""
    spec, preset, config_file = flag_spec(opts)
    if config_file is not None:
        spec, _ = with_config_file(config_file, spec, preset, mode)
    if defaults:
        spec.fields.setdefault("go", "2017")
    return spec
