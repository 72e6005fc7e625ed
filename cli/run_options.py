"""The run options, declared once: the parameters of ``run_options``, which ``overfit``,
``train``, ``compare``, ``config show`` and ``slurm compare|overfit|train`` take after their own
(``dcellx_cli.common.with_options``), parsed once into a ``RunFlags``.

Every run option defaults to ``None`` (the config's default), ``--go`` and ``--preset`` too, so
that ``--resume`` and ``--config`` can tell a given flag from a default. The choices and defaults a
help text names are read from the config that owns them (``ModelConfig``, ``RunConfig``). The
device options (``--device``, ``--cuda-graph``, ...) are declared in ``dcellx_cli.devices``.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from dcellx.errors import ConfigError
from dcellx.nn.config import VARIANTS, ModelConfig
from dcellx.train.baselines import BASELINES
from dcellx.train.config import (
    CONTROLS,
    DEFAULT_EPOCHS,
    DEFAULT_GO,
    DEFAULT_PRESET,
    RunConfig,
    RunSpec,
    parse_assignments,
    route,
)
from dcellx.train.config_file import ConfigFile, with_config_file
from dcellx_cli.common import (
    DateCutoffOpt,
    GafOpt,
    MinGenesOpt,
    OboOpt,
    RunGoOpt,
    UniverseOpt,
    choices,
    cli_flag,
    compact_names,
    default,
    described,
    one_of,
    ontology_overrides,
)
from dcellx_cli.devices import CudaGraphOpt, DeterministicOpt, DeviceOpt, PrecisionOpt, Tf32Opt

# --- run options (every one defaults to None = the config's default; --go/--preset too, so that
# --resume can tell a given flag from a default) -------------------------------------------------
_MODEL = "Model override (default: the preset's)."
DataOpt = Annotated[
    str | None,
    cli_flag("data", f"Registered dataset or genotype file [{default(RunConfig, 'data')})."),
]
TestDataOpt = Annotated[
    str | None, cli_flag("test-data", "train: test file (default: the dataset's test split).")
]
UnknownGenesOpt = Annotated[
    str | None,
    cli_flag(
        "unknown-genes",
        "Genes the ontology lacks: "
        + described(
            RunConfig,
            "unknown_genes",
            {"warn": "one line; they are invisible to the model", "error": "", "ignore": ""},
        )
        + f" (default: {default(RunConfig, 'unknown_genes')}).",
    ),
]
DuplicatesOpt = Annotated[
    str | None,
    cli_flag(
        "duplicates",
        "A genotype measured twice with different values: "
        + described(RunConfig, "duplicates", {"mean": "averaged, with a warning", "error": ""})
        + f" (default: {default(RunConfig, 'duplicates')}).",
    ),
]
BatchSizeOpt = Annotated[
    int | None,
    cli_flag("batch-size", f"Genotypes per batch (default: {default(RunConfig, 'batch_size')})."),
]
BatchSeedOpt = Annotated[
    int | None, cli_flag("batch-seed", "overfit: draw the batch with this seed (else first N).")
]
_EPOCHS = ", ".join(f"{mode} {n}" for mode, n in DEFAULT_EPOCHS.items())
EpochsOpt = Annotated[int | None, cli_flag("epochs", f"Epochs (default: {_EPOCHS}).")]
MaxStepsOpt = Annotated[
    int | None,
    cli_flag(
        "max-steps",
        "Stop after N optimiser steps in all, across epochs and --resume (train: minibatches, "
        "overfit: epochs); the last epoch is scored as far as it got.",
    ),
]
FitStopPearsonOpt = Annotated[
    float | None,
    cli_flag(
        "fit-stop-pearson",
        "overfit: stop once train-mode Pearson >= this for --fit-stop-epochs epochs in a row.",
    ),
]
FitStopEpochsOpt = Annotated[
    int | None,
    cli_flag(
        "fit-stop-epochs",
        f"overfit: epochs of --fit-stop-pearson [{default(RunConfig, 'fit_stop_epochs')}].",
    ),
]
VariantOpt = Annotated[
    str | None,
    cli_flag(
        "variant",
        f"{compact_names(VARIANTS)}, {', '.join(CONTROLS)}; baselines {', '.join(BASELINES)} "
        f"(default: {default(RunConfig, 'variant')}).",
    ),
]
PresetOpt = Annotated[
    str | None,
    cli_flag("preset", f"{one_of(choices(ModelConfig, 'preset'))} [{DEFAULT_PRESET}]."),
]
NormOpt = Annotated[
    str | None, cli_flag("norm", f"{one_of(choices(ModelConfig, 'norm'))}. " + _MODEL)
]
BnFreezeAfterOpt = Annotated[
    int | None, cli_flag("bn-freeze-after", "batch-frozen: steps before freezing. " + _MODEL)
]
WidthFloorOpt = Annotated[
    int | None, cli_flag("width-floor", "Minimum neurons per term. " + _MODEL)
]
WidthMultiplierOpt = Annotated[
    float | None, cli_flag("width-multiplier", "Neurons per contained gene. " + _MODEL)
]
AlphaOpt = Annotated[float | None, cli_flag("alpha", "Auxiliary loss weight. " + _MODEL)]
AuxReduceOpt = Annotated[
    str | None,
    cli_flag(
        "aux-reduce",
        f"{one_of(choices(ModelConfig, 'aux_reduce'))} over auxiliary terms. " + _MODEL,
    ),
]
AlphaDecayEpochsOpt = Annotated[
    int | None, cli_flag("alpha-decay-epochs", "Decay alpha to 0 over N epochs. " + _MODEL)
]
DepthOpt = Annotated[int | None, cli_flag("depth", "Layers per subsystem. " + _MODEL)]
L2Opt = Annotated[float | None, cli_flag("l2", "L2 penalty on weights. " + _MODEL)]
EmbeddingDimOpt = Annotated[int | None, cli_flag("embedding-dim", "Gene embedding size. " + _MODEL)]
AttentionHeadsOpt = Annotated[
    int | None, cli_flag("attention-heads", "embedding-attention heads. " + _MODEL)
]
DeletionRuleOpt = Annotated[
    str | None,
    cli_flag(
        "deletion-rule",
        described(
            ModelConfig,
            "deletion_rule",
            {
                "exact": "",
                "torchcell-index-guard": "a deletion of g counts in term t only if g's "
                "vocabulary position < |direct(t)|: torchcell's defect",
            },
        )
        + ". "
        + _MODEL,
    ),
]
LrOpt = Annotated[float | None, cli_flag("lr", "Adam learning rate (default: 1e-3).")]
SchedulerOpt = Annotated[
    str | None,
    cli_flag(
        "scheduler",
        f"{one_of(choices(RunConfig, 'scheduler'))} (default: {default(RunConfig, 'scheduler')}).",
    ),
]
SeedOpt = Annotated[
    int | None,
    cli_flag(
        "seed", f"Seed of initialisation and data order (default: {default(RunConfig, 'seed')})."
    ),
]
RunsDirOpt = Annotated[
    str | None,
    cli_flag("runs-dir", f"Where run directories go (default: {default(RunConfig, 'runs_dir')})."),
]
ThreadsOpt = Annotated[
    int | None, cli_flag("threads", "torch threads (recorded; fixes the arithmetic).")
]
LabelNormOpt = Annotated[
    str | None,
    cli_flag(
        "label-norm",
        f"{one_of(choices(RunConfig, 'label_norm'))} "
        f"(default: {default(RunConfig, 'label_norm')}).",
    ),
]
SplitOpt = Annotated[
    str | None,
    cli_flag(
        "split",
        "train: random (val from the training file, the dataset's test file) or genes|pairs "
        "(train+test pooled and re-split: test genotypes hold an unseen gene / pair).",
    ),
]
HoldoutFractionOpt = Annotated[
    float | None,
    cli_flag(
        "holdout-fraction",
        f"genes/pairs: test genotypes (default: {default(RunConfig, 'holdout_fraction')}).",
    ),
]
SplitSeedOpt = Annotated[int | None, cli_flag("split-seed", "Seed of the split (default: --seed).")]
ScoreSampleOpt = Annotated[
    int | None,
    cli_flag(
        "score-sample",
        "train: score at most N rows of each split (validation every epoch, all splits at the "
        "end), a sample fixed by --seed (default: every row).",
    ),
]
CheckpointEveryOpt = Annotated[
    int | None, cli_flag("checkpoint-every", "Checkpoint every N epochs (default: ~5 min).")
]
KeepCheckpointsOpt = Annotated[
    str | None,
    cli_flag(
        "keep-checkpoints",
        "What a finished run keeps: "
        + described(
            RunConfig,
            "keep_checkpoints",
            {
                "best": "weights-best.pt",
                "last": "also checkpoint-last.pt, the optimiser state",
                "all": "also every checkpoint-eN.pt",
                "none": "",
            },
            mark_default=True,
        )
        + ". checkpoint-last.pt stays while the run can be resumed.",
    ),
]
LogOpt = Annotated[
    list[str] | None,
    cli_flag(
        "log",
        "Also send each epoch's metrics.csv values and the config to tensorboard (event files in "
        "the run directory) or wandb (offline unless WANDB_MODE=online); repeatable. Needs the "
        "extra: pip install 'dcellx[tensorboard]' / 'dcellx[wandb]'.",
    ),
]
ConfigFileOpt = Annotated[
    Path | None,
    cli_flag(
        "config",
        "A TOML or JSON file of run fields (any subset; a finished run's config.json reruns it); "
        "flags override it. `dcellx config show` prints the result.",
    ),
]
SetOpt = Annotated[list[str] | None, cli_flag("set", "Any config field: key=value (repeatable).")]
QuietOpt = Annotated[bool, cli_flag("quiet", "No progress output.", "-q")]

# the run options that override the --go recipe, in ontology_overrides' order
ONTOLOGY_OVERRIDES = ("obo", "gaf", "date_cutoff", "min_genes", "universe")


@dataclass(frozen=True)
class RunFlags:
    """The run options one command line gave, parsed once (``run_options``). ``given``: the flags
    alone, split as ``make_run_config`` takes them (its ``preset`` the default where ``--preset``
    is absent); ``preset``: ``--preset`` as given (``None``: absent, as ``--resume`` and
    ``--config`` need to tell); ``config_file``: ``--config``."""

    given: RunSpec
    preset: str | None = None
    config_file: Path | None = None

    @classmethod
    def parse(cls, opts: dict[str, Any]) -> RunFlags:
        """From the run options by parameter name (``None``: not given); ``opts`` is left alone."""
        opts = dict(opts)
        config_file = opts.pop("config_file", None)
        model = {k: opts.pop(k) for k in MODEL_FLAGS}
        ontology = ontology_overrides(*(opts.pop(k) for k in ONTOLOGY_OVERRIDES))
        sets = parse_assignments(opts.pop("set_"))
        preset = opts.pop("preset")

        def clean(d: dict[str, Any]) -> dict[str, Any]:
            return {
                k: (str(v) if isinstance(v, Path) else v) for k, v in d.items() if v is not None
            }

        given = RunSpec(
            preset=preset or DEFAULT_PRESET,
            model=clean(model),
            ontology=clean(ontology),
            fields=clean(opts),
            sets=sets,
        )
        return cls(given, preset, config_file)

    @property
    def quiet(self) -> bool:
        return bool(self.given.fields.get("quiet"))

    def spec(self, mode: str | None = None, defaults: bool = True) -> RunSpec:
        """The run the options describe: ``--config FILE`` beneath the flags
        (``dcellx.train.config_file``; ``mode``: the command's, which a file naming another mode
        contradicts). ``defaults``: fill in ``--go``'s default where neither gave it (``False``:
        leave it out, as ``--resume`` needs to see only what was given)."""
        return self.resolve(mode, defaults)[0]

    def resolve(
        self, mode: str | None = None, defaults: bool = True
    ) -> tuple[RunSpec, ConfigFile | None]:
        """``spec``, and the ``--config`` file as read (``None``: none given), whose values
        ``dcellx.train.config_file.sources`` tells from the flags'."""
        spec, file = self.given.model_copy(deep=True), None
        if self.config_file is not None:
            spec, file = with_config_file(self.config_file, spec, self.preset, mode)
        if defaults:
            spec.fields.setdefault("go", DEFAULT_GO)
        return spec, file

    def resume_flags(self) -> dict[str, Any]:
        """What ``--resume`` checks against the run (``dcellx.train.config.resume_changes``): the
        flags alone, ``-q`` aside (it changes the output, not the run); ``--config`` is refused,
        a resumed run keeps its config.json."""
        if self.config_file is not None:
            raise ConfigError("--config with --resume: a resumed run keeps its config.json")
        flags = {"preset": self.preset, **self.given.model_dump(exclude={"preset"})}
        flags["fields"] = {k: v for k, v in flags["fields"].items() if k != "quiet"}
        return flags


def run_options(
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
    cuda_graph: CudaGraphOpt = None,
    tf32: Tf32Opt = None,
    precision: PrecisionOpt = None,
    deterministic: DeterministicOpt = None,
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
) -> RunFlags:
    """The run options, in this order: the tail of every run command (``with_options``)."""
    return RunFlags.parse(locals())


# the run options that override the model preset, in run_options' order
MODEL_FLAGS = tuple(
    name
    for name in inspect.signature(run_options).parameters
    if name != "preset" and name in ModelConfig.model_fields and route(name)[0] == "model"
)
