"""``RunConfig``: everything one training run depends on, validated once, recorded verbatim.

A run is reproducible from its ``config.json`` alone: the model architecture (``ModelConfig``,
preset plus overrides), the ontology recipe name and overrides, the data, the optimiser and the
seeds. Defaults that depend on the mode (epochs, early stopping) are filled in here, so the recorded
config never holds a ``None`` that means "whatever the code did at the time".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dcellx.errors import ConfigError, config_error
from dcellx.nn.buckets import default_plan
from dcellx.nn.config import VARIANTS, ModelConfig, make_config
from dcellx.train.baselines import BASELINE_L2, BASELINES

# Negative controls run by name like model variants (see dcellx.train.controls).
CONTROLS: tuple[str, ...] = ("shuffled-ontology", "shuffled-labels", "mlp")
# Baselines (dcellx.train.baselines) are trained by the same runner, next to DCell's numbers.
ALL_VARIANTS: tuple[str, ...] = (*VARIANTS, *CONTROLS, *BASELINES)
# the model preset a run gets where none is given (``ModelConfig``'s own default)
DEFAULT_PRESET: str = ModelConfig.model_fields["preset"].default
DEFAULT_EPOCHS = {"overfit": 500, "train": 100}
DEFAULT_PATIENCE = {"overfit": None, "train": 10}
Beta = Annotated[float, Field(ge=0, lt=1)]


class OntologyOverrides(BaseModel):
    """The recipe overrides of ``--go`` (``None`` = the recipe's own value)."""

    model_config = ConfigDict(extra="forbid")

    obo: str | None = None
    annotations: str | None = None
    date_cutoff: str | None = None
    min_genes: int | None = Field(None, ge=0)
    universe: str | None = None

    def as_kwargs(self) -> dict[str, object]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class RunConfig(BaseModel):
    """One training run (``overfit`` or ``train``). Defaults are the README's main job."""

    # every float must be finite (``--lr inf`` trained to NaN and exited 0)
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    mode: Literal["overfit", "train"] = "overfit"
    go: str = "2017"
    ontology: OntologyOverrides = OntologyOverrides()
    data: str = "dcell-dna-repair"
    test_data: str | None = None  # train mode: a test file (default: the dataset's own test split)
    phenotype: int = Field(0, ge=0)  # phenotype column of the data file
    unknown_genes: Literal["warn", "error", "ignore"] = "warn"
    # a genotype measured more than once with different values: averaged (and said) or refused
    duplicates: Literal["mean", "error"] = "mean"
    # BatchNorm with batch statistics needs at least two samples.
    batch_size: int = Field(32, ge=2)
    batch_seed: int | None = Field(None, ge=0)  # overfit batch: None = the first N genotypes
    epochs: int | None = Field(None, ge=1)  # None -> 500 (overfit) / 100 (train)
    # stop after this many optimiser steps in all, counted across epochs and --resume (train: one
    # per minibatch, overfit: one per epoch); the epoch it ends in is scored as it stands
    max_steps: int | None = Field(None, ge=1)
    lr: float = Field(1e-3, gt=0)
    betas: tuple[Beta, Beta] = (0.9, 0.999)  # Adam's decay rates, each in [0, 1)
    scheduler: Literal["none", "cosine", "plateau"] = "none"
    plateau_patience: int = Field(10, ge=0)
    plateau_factor: float = Field(0.5, gt=0, lt=1)
    min_lr: float = Field(1e-6, ge=0)
    early_stopping_patience: int | None = Field(None, ge=1)  # None -> 10 in train mode
    # overfit: stop once train-mode Pearson >= fit_stop_pearson for fit_stop_epochs epochs in a
    # row (the batch is fit; more epochs only cost time). None: run every epoch.
    fit_stop_pearson: float | None = Field(None, gt=0, le=1)
    fit_stop_epochs: int = Field(20, ge=1)
    val_fraction: float = Field(0.1, gt=0, lt=1)
    # train mode: score at most this many rows of each split (validation every epoch, every split
    # at the end), a sample drawn once from the seed, so scoring millions of genotypes stays
    # bounded; None: every row
    score_sample: int | None = Field(None, ge=2)
    # train mode: how genotypes are split (dcellx.train.splits). random: val_fraction of the
    # training file, the dataset's own test file as test. genes/pairs: the training file and the
    # test file (the dataset's own or --test-data) are pooled and re-split leak-free, val_fraction
    # and holdout_fraction counting genotypes of the pool.
    split: Literal["random", "genes", "pairs"] = "random"
    holdout_fraction: float = Field(0.2, gt=0, lt=1)
    split_seed: int | None = Field(None, ge=0)  # None -> seed (resolved and recorded)
    seed: int = Field(0, ge=0, le=2**64 - 1)  # what numpy's and torch's generators take
    label_norm: Literal["zscore", "none"] = "zscore"
    threads: int | None = Field(None, ge=1)  # None -> torch's current setting, recorded
    device: str = "cpu"
    # capture forward, loss, backward and the optimiser step as one CUDA graph per batch shape
    # and replay it (dcellx.train.cuda_graph); CUDA only
    cuda_graph: bool = False
    # let CUDA matmuls round their inputs to TF32 (10-bit mantissa); no effect on CPU
    tf32: bool = False
    # bf16: matmuls autocast to bfloat16; BatchNorm statistics and optimiser state stay float32
    precision: Literal["float32", "bf16"] = "float32"
    # torch.use_deterministic_algorithms and a fixed cuBLAS workspace: the mode in which two GPU
    # runs of one seed are bitwise equal (CPU runs are bitwise equal without it)
    deterministic: bool = False
    checkpoint_every: int | None = Field(None, ge=1)  # epochs; None -> every checkpoint_seconds
    checkpoint_seconds: float = Field(300.0, gt=0)
    # what a finished run keeps: "best" weights-best.pt; "last" also checkpoint-last.pt (final
    # model with its optimiser state, 3x the weights); "all" also every checkpoint-eN.pt; "none"
    # nothing. Until the run finishes checkpoint-last.pt stays whatever this says (but "none"
    # writes it only on a signal): an interrupted, killed or requeued run can still continue.
    keep_checkpoints: Literal["last", "best", "all", "none"] = "best"
    runs_dir: str = "runs"
    variant: str = "binary"
    model: ModelConfig = ModelConfig()
    # How DCell's forward and backward are computed (dcellx.nn.fused): "fused" (hand-written
    # backward over reused buffers) or "autograd"; the same function, rounding differs in the
    # last bits, so a run resumes on the engine it began with. Configurations the fused engine
    # does not cover (layer norm, depth > 1, multi-process BatchNorm) run on autograd either way.
    engine: Literal["fused", "autograd"] = "fused"
    # Which terms share a padded bmm (dcellx.nn.buckets): "cost-v1" = the plan of least
    # predicted step time under BucketCost's constants of this version (fitted on CPU), "gpu-v0"
    # the same under the GPU's constants, "ratio-1.3" = the former fixed cells; None: the device's
    # own plan (default_plan), resolved and recorded. The optimiser state in a checkpoint is
    # packed by bucket, so a run keeps its plan.
    buckets: Literal["cost-v1", "ratio-1.3", "gpu-v0"] | None = None
    # trackers that also receive metrics.csv's rows (dcellx.train.trackers); never the arithmetic
    log: list[Literal["tensorboard", "wandb"]] = []
    quiet: bool = False

    @field_validator("log", mode="before")
    @classmethod
    def _tracker_names(cls, v: Any) -> Any:
        """``--log tensorboard,wandb`` and ``--set log=wandb`` as well as a list; each once."""
        if isinstance(v, str):
            v = [v]
        if isinstance(v, list | tuple):
            names = [n.strip() for item in v for n in str(item).split(",") if n.strip()]
            return list(dict.fromkeys(names))
        return v

    @field_validator("variant")
    @classmethod
    def _known_variant(cls, v: str) -> str:
        if v not in ALL_VARIANTS:
            raise ValueError(f"unknown variant {v!r}; choose from {', '.join(ALL_VARIANTS)}")
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        try:
            torch.device(v)
        except (RuntimeError, ValueError):
            raise ValueError(f"not a torch device: {v!r}") from None
        return v

    @model_validator(mode="after")
    def _resolve(self) -> RunConfig:
        if self.epochs is None:
            self.epochs = DEFAULT_EPOCHS[self.mode]
        if self.early_stopping_patience is None:
            self.early_stopping_patience = DEFAULT_PATIENCE[self.mode]
        if self.mode == "overfit" and self.early_stopping_patience is not None:
            raise ValueError("early stopping needs a validation split: use it with `train`")
        if self.mode == "overfit" and self.split != "random":
            raise ValueError("split: overfit trains on one batch; use --split with `train`")
        if self.mode == "overfit" and self.score_sample is not None:
            raise ValueError(
                "score_sample: overfit scores its one batch; use --score-sample with `train`"
            )
        if self.cuda_graph and torch.device(self.device).type != "cuda":
            raise ValueError(
                f"cuda_graph: --cuda-graph needs --device cuda (got {self.device!r}): "
                "a CUDA graph is captured and replayed on a CUDA device"
            )
        if self.split_seed is None:
            self.split_seed = self.seed
        if self.buckets is None:
            self.buckets = default_plan(self.device)
        if self.split != "random" and self.val_fraction + self.holdout_fraction >= 1:
            raise ValueError("val_fraction + holdout_fraction must leave genotypes to train on")
        if self.variant in VARIANTS and self.model.variant != self.variant:
            # the run's variant names the model variant; re-validate the pair
            self.model = ModelConfig.model_validate(
                {**self.model.model_dump(), "variant": self.variant}
            )
        return self


# the ontology recipe a run gets where no --go is given, and the modes a run can have
DEFAULT_GO: str = RunConfig.model_fields["go"].default
MODES: tuple[str, ...] = get_args(RunConfig.model_fields["mode"].annotation)
DEFAULT_MODE: str = RunConfig.model_fields["mode"].default


def parse_value(text: str) -> Any:
    """``--set``/``--grid`` values: JSON where it parses (numbers, true, null, lists), else text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_assignments(items: list[str] | None) -> dict[str, Any]:
    """``["alpha=0", "lr=1e-4"]`` -> ``{"alpha": 0, "lr": 0.0001}``."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {item!r}")
        out[key.strip()] = parse_value(value.strip())
    return out


def route(key: str) -> tuple[str, str]:
    """Which part of the config a (possibly dotted) key sets: ("run"|"model"|"ontology", name)."""
    if "." in key:
        part, name = key.split(".", 1)
        fields = {"model": ModelConfig.model_fields, "ontology": OntologyOverrides.model_fields}
        if part in fields and name in fields[part]:
            return part, name
        raise ConfigError(f"unknown config key {key!r}")
    if key in RunConfig.model_fields and key not in ("model", "ontology"):
        return "run", key
    if key in ModelConfig.model_fields:
        return "model", key
    if key in OntologyOverrides.model_fields:
        return "ontology", key
    raise ConfigError(
        f"unknown config key {key!r}: not a field of RunConfig, ModelConfig or the ontology "
        "overrides"
    )


def make_run_config(
    preset: str = DEFAULT_PRESET,
    model: dict[str, Any] | None = None,
    ontology: dict[str, Any] | None = None,
    sets: dict[str, Any] | None = None,
    **fields: Any,
) -> RunConfig:
    """Build and validate a ``RunConfig``: run fields, then the model preset plus overrides, then
    generic ``sets`` (``--set``/``--grid``, which win). ``None`` values mean "default"."""
    run = {k: v for k, v in fields.items() if v is not None}
    model = {k: v for k, v in (model or {}).items() if v is not None}
    # 0 is a value (`--min-genes 0` keeps every term), so only None and "" mean "not given"
    onto = {
        k: (str(v) if k != "min_genes" else v)
        for k, v in (ontology or {}).items()
        if v is not None and v != ""
    }
    for key, value in (sets or {}).items():
        part, name = route(key)
        {"run": run, "model": model, "ontology": onto}[part][name] = value
    preset = str(model.pop("preset", preset))
    variant = run.get("variant", "binary")
    if variant in BASELINES:
        model.setdefault("l2", BASELINE_L2)  # ridge; an explicit --l2 (even 0) wins
    if variant in VARIANTS:
        model["variant"] = variant
    elif variant not in ALL_VARIANTS:
        raise ConfigError(
            f"variant: unknown variant {variant!r}; choose from {', '.join(ALL_VARIANTS)}"
        )
    model_cfg = make_config(preset, **model)
    try:
        cfg = RunConfig(model=model_cfg, ontology=onto, **run)
    except ValidationError as exc:
        raise config_error(exc) from None
    if cfg.threads is None:
        cfg.threads = torch.get_num_threads()
    return cfg


class RunSpec(BaseModel):
    """A run as ``make_run_config`` takes it, before it is resolved: what a command line's run
    flags say (the CLI parses them into one), and the shared part of every run in a sweep
    (``sweep.json``), so that a grid over ``preset`` re-applies the preset rather than editing a
    resolved model."""

    model_config = ConfigDict(extra="forbid")

    preset: str = DEFAULT_PRESET
    model: dict[str, Any] = {}
    ontology: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    sets: dict[str, Any] = {}

    def run_field(self, name: str, pop: bool = False) -> Any:
        """Run field ``name`` as given, else ``RunConfig``'s default (``pop``: and drop it)."""
        dflt = RunConfig.model_fields[name].default
        return self.fields.pop(name, dflt) if pop else self.fields.get(name, dflt)

    def config(self, **sets: Any) -> RunConfig:
        return make_run_config(
            self.preset, self.model, self.ontology, sets={**self.sets, **sets}, **self.fields
        )


# What a run whose ``config.json`` predates a field ran with, where that is not the field's
# default: every run before the fused engine was computed on autograd, with the fixed buckets.
PREDATED = {"engine": "autograd", "buckets": "ratio-1.3"}


def recorded(run: dict[str, Any], name: str) -> Any:
    """Run field ``name`` of a recorded config: a field the config predates reads as what the run
    ran with (``PREDATED``, else the field's default, e.g. ``max_steps``)."""
    if name in run:
        return run[name]
    return PREDATED.get(name, RunConfig.model_fields[name].default)


def load_run_config(data: dict[str, Any]) -> RunConfig:
    """A ``RunConfig`` from the ``run`` block of a ``config.json`` (raises ``ConfigError``)."""
    data = {**{k: v for k, v in PREDATED.items() if k not in data}, **data}
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc) from None


# What ``--resume`` may change: how long the run goes on and what it keeps, never what it computes.
RESUME_CHANGES = ("epochs", "max_steps", "checkpoint_every", "keep_checkpoints")
_ONTOLOGY_FLAGS = {"annotations": "--gaf"}


def _given_value(cfg: RunConfig, part: str, name: str, value: Any) -> Any:
    """``value`` as the config would hold it (validated and coerced: ``1e-3`` == ``0.001``)."""
    if part == "model":
        return getattr(ModelConfig.model_validate({**cfg.model.model_dump(), name: value}), name)
    if part == "ontology":
        data = {**cfg.ontology.model_dump(), name: value}
        return getattr(OntologyOverrides.model_validate(data), name)
    return getattr(RunConfig.model_validate({**cfg.model_dump(), name: value}), name)


def resume_changes(
    cfg: RunConfig,
    run_dir: Path,
    mode: str | None = None,
    preset: str | None = None,
    model: dict[str, Any] | None = None,
    ontology: dict[str, Any] | None = None,
    fields: dict[str, Any] | None = None,
    sets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Check the flags given with ``--resume`` against the run's recorded ``cfg``: a flag equal
    to the recorded value is fine; ``RESUME_CHANGES`` are returned to be applied; any other
    difference (and another mode) is a ``ConfigError``: a resumed run computes what it began."""
    kind = f"{'an' if cfg.mode == 'overfit' else 'a'} {cfg.mode} run"
    if mode is not None and mode != cfg.mode:
        raise ConfigError(
            f"{run_dir} is {kind}: continue it with `dcellx {cfg.mode} --resume {run_dir}`"
        )
    given: list[tuple[str, str, str, Any]] = []  # (flag as given, part, field, value)
    for part, items in (("run", fields), ("model", model), ("ontology", ontology)):
        for name, value in (items or {}).items():
            flag = _ONTOLOGY_FLAGS.get(name, "--" + name.replace("_", "-"))
            # an on/off flag reads as given (--tf32), not as "--tf32 True"
            given.append((flag if value is True else f"{flag} {value}", part, name, value))
    if preset is not None:
        given.append((f"--preset {preset}", "model", "preset", preset))
    given += [(f"--set {k}={v}", *route(k), v) for k, v in (sets or {}).items()]
    changes: dict[str, Any] = {}
    for flag, part, name, value in given:
        if (part, name) == ("run", "runs_dir"):
            if Path(value).resolve() != Path(run_dir).resolve().parent:
                raise ConfigError(f"{flag}: {run_dir} is not in it; drop --runs-dir")
            continue
        try:
            new = _given_value(cfg, part, name, value)
        except ValidationError as exc:
            raise config_error(exc, "" if part == "run" else part) from None
        recorded = getattr(cfg if part == "run" else getattr(cfg, part), name)
        if new == recorded:
            continue
        if part == "run" and name in RESUME_CHANGES:
            changes[name] = new
            continue
        raise ConfigError(
            f"{flag} contradicts {run_dir}, {kind} with {name} = {recorded!r} (config.json): "
            "--resume continues a run as it began and changes only --epochs, --max-steps, "
            f"--checkpoint-every and --keep-checkpoints; drop {flag.split()[0]} or start a new run"
        )
    return changes
