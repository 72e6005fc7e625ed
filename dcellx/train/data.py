"""What a run trains on: the ontology, the overfit batch or the train/val/test splits, and labels.

Everything here is loaded and checked *before* a run directory exists, so a bad option or a missing
file never leaves an empty run behind. Labels are z-scored with statistics of the data the model
is fitted on (the overfit batch, or the training split); the statistics are stored in the run and
inverted for predictions.

Splits (``cfg.split``, see ``dcellx.train.splits``): ``random`` splits the training file into
train/val and tests on the dataset's own test file (or ``--test-data``), as ``train`` always did.
``genes`` and ``pairs`` pool the training file with that test file and re-split the pool: a gene of
the official test file also occurs in its training file, so only a re-split can be leak-free.
The split, its sizes and its leakage counts are recorded in ``config.json`` (``data.split``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch

from dcellx.batch import (
    EncodedGenotypes,
    PerturbationBatch,
    encode_genotypes,
    make_batch,
    report_unknown,
    require_visible,
)
from dcellx.data.codes import compact_codes, concat_codes
from dcellx.data.datasets import load_dataset
from dcellx.data.genotypes import Duplicates, GenotypeDataset
from dcellx.data.store import joint_codes, merge_measurements
from dcellx.data.universe import load_ontology_with_datasets
from dcellx.errors import ConfigError, InputError
from dcellx.ontology.compiled import CompiledOntology
from dcellx.train.baselines import training_pairs
from dcellx.train.config import RunConfig
from dcellx.train.controls import shuffle_labels, shuffled_rows
from dcellx.train.models import run_ontology
from dcellx.train.splits import leakage_between, random_split, split_genotypes


@dataclass
class LabelStats:
    """``z = (y - mean) / std``; ``norm="none"`` is mean 0, std 1."""

    norm: str
    mean: float
    std: float

    @classmethod
    def fit(cls, y: np.ndarray, norm: str, source: str = "the data") -> LabelStats:
        """The statistics of ``y``, the labels fitted; constant labels are refused whatever
        ``norm`` is: there is nothing to learn, and z-scoring divides by 0 (``none`` used to
        train to NaN and blame the model)."""
        if len(y) and not float(np.ptp(y)) > 0:
            raise InputError(
                source, None, f"all {len(y)} labels fitted are {float(y[0])!r}: constant labels "
                "leave nothing to learn (another --batch-size, --batch-seed or data file)",
            )  # fmt: skip
        if norm == "none":
            return cls("none", 0.0, 1.0)
        return cls("zscore", float(np.mean(y)), float(np.std(y)))

    def forward(self, y: np.ndarray) -> np.ndarray:
        return (y - self.mean) / self.std

    def to_train(self, y: np.ndarray, source: str) -> np.ndarray:
        """``forward(y)`` in float32, the dtype the model trains in; a label that is not finite
        there is refused (the readers refuse values beyond float32 already, with file:line:
        this holds for every route, a cached screen or a simulated dataset too)."""
        z = self.forward(np.asarray(y, dtype=np.float64)).astype(np.float32)
        bad = ~np.isfinite(z)
        if bad.any():
            i = int(np.argmax(bad))
            raise InputError(
                source, None, f"label {float(y[i])!r} (genotype {i + 1}) is not finite in "
                "float32, the dtype dcellx trains in",
            )  # fmt: skip
        return z

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return np.asarray(z, dtype=np.float64) * self.std + self.mean


@dataclass
class Split:
    """Encoded genotypes, the rows of them in this split, and every row's normalised label."""

    enc: EncodedGenotypes
    rows: np.ndarray
    z: np.ndarray  # float32 [len(enc)], normalised labels
    raw: np.ndarray  # float64 [len(enc)], original units

    def batch(self, rows: np.ndarray, pairs: int | None = None) -> PerturbationBatch:
        """A batch whose ``y`` [B] holds the normalised labels of ``rows``; ``pairs``: its
        (sample, gene) pairs padded to that many (``make_batch``; fixed shapes for a CUDA
        graph)."""
        b = make_batch(self.enc, rows, pairs=pairs)
        return dataclasses.replace(b, y=torch.from_numpy(self.z[rows]))


@dataclass
class RunData:
    onto: CompiledOntology  # the ontology the model is built on (a control's shuffled copy)
    phenotype: str
    labels: LabelStats
    train: Split  # overfit: rows = the fixed batch
    val: Split | None
    test: Split | None
    split: dict = field(default_factory=dict)  # train mode: method, sources, sizes, leakage

    def describe(self) -> dict:
        out = {
            "phenotype": self.phenotype,
            "train": len(self.train.rows),
            "val": 0 if self.val is None else len(self.val.rows),
            "test": 0 if self.test is None else len(self.test.rows),
            "invisible_genes": int(self.train.enc.invisible[self.train.rows].sum()),
        }
        if self.split:
            out["split"] = self.split
        return out

    def train_pairs(self) -> np.ndarray:
        """Pair keys of the training genotypes (the ``pairwise`` baseline's vocabulary)."""
        return training_pairs(self.train.enc, self.train.rows, self.onto.num_genes)

    def model_pairs(self, variant: str) -> np.ndarray | None:
        """``train_pairs()`` for the model that uses them (``pairwise``), else ``None``."""
        return self.train_pairs() if variant == "pairwise" else None

    def parts(self) -> dict[str, Split]:
        """The splits that exist, by name (``train``, ``val``, ``test``)."""
        named = {"train": self.train, "val": self.val, "test": self.test}
        return {k: v for k, v in named.items() if v is not None}


@lru_cache(maxsize=4)
def _ontology(go: str, overrides: str) -> CompiledOntology:
    return load_ontology_with_datasets(go, **json.loads(overrides))


@lru_cache(maxsize=4)
def _datasets(name: str, duplicates: Duplicates) -> dict[str, GenotypeDataset]:
    return load_dataset(name, duplicates=duplicates)


def run_datasets(name: str, cfg: RunConfig) -> dict[str, GenotypeDataset]:
    """``--data``/``--test-data`` read with the run's ``duplicates`` rule (memoised in-process:
    a sweep, and the verdict after a run, read each file once)."""
    return _datasets(name, cfg.duplicates)


def base_ontology(cfg: RunConfig) -> CompiledOntology:
    """``--go`` plus overrides (memoised in-process: a sweep compiles each ontology once)."""
    return _ontology(cfg.go, json.dumps(cfg.ontology.as_kwargs(), sort_keys=True))


def _test_source(cfg: RunConfig) -> tuple[str, GenotypeDataset] | None:
    """The test file of a ``train`` run: ``--test-data`` (its test part, else the whole file) or
    the named dataset's own test file; ``None`` if there is none."""
    if cfg.mode != "train":
        return None
    if cfg.test_data:
        sets = run_datasets(cfg.test_data, cfg)
        if "test" in sets:
            return f"{cfg.test_data}:test", sets["test"]
        return cfg.test_data, sets["train"]
    test = run_datasets(cfg.data, cfg).get("test")
    return None if test is None else (f"{cfg.data}:test", test)


def pool_datasets(parts: list[tuple[str, GenotypeDataset]], column: int) -> GenotypeDataset:
    """One dataset of phenotype ``column`` from several files: a gene set present in more than
    one is one genotype, its value the count-weighted mean (a genotype on both sides of a split is
    exactly the leak a re-split removes)."""
    sets = [ds for _, ds in parts]
    blocks, vocab = joint_codes(sets)
    codes = concat_codes(blocks)
    groups = merge_measurements(codes, len(vocab))
    counts = np.concatenate([ds.counts for ds in sets])
    weighted = np.concatenate([ds.values[:, column] * ds.counts for ds in sets])
    n = np.bincount(groups.row, weights=counts, minlength=len(groups)).astype(np.int64)
    sums = np.bincount(groups.row, weights=weighted, minlength=len(groups))
    name = sets[0].phenotypes[column]
    source = " + ".join(ds.source for ds in sets)
    first = compact_codes(codes[groups.first])
    return GenotypeDataset(None, (sums / n)[:, None], [name], source, n, codes=first, vocab=vocab)


def _check_phenotype(cfg: RunConfig, ds: GenotypeDataset, what: str) -> None:
    if cfg.phenotype >= len(ds.phenotypes):
        raise ConfigError(
            f"phenotype: column {cfg.phenotype} requested, {what} has "
            f"{len(ds.phenotypes)} ({', '.join(ds.phenotypes)})"
        )


def _load_resplit(cfg: RunConfig, onto: CompiledOntology) -> RunData:
    """``--split genes|pairs``: pool the training and test files, split the pool leak-free."""
    sources = [(f"{cfg.data}:train", run_datasets(cfg.data, cfg)["train"])]
    test_src = _test_source(cfg)
    if test_src is not None:
        sources.append(test_src)
    for name, ds in sources:
        _check_phenotype(cfg, ds, repr(name))
    pool = pool_datasets(sources, cfg.phenotype)
    sp = split_genotypes(
        pool,
        cfg.split,
        val_fraction=cfg.val_fraction,
        test_fraction=cfg.holdout_fraction,
        seed=cfg.split_seed,
    )
    raw = pool.values[:, 0].copy()
    if cfg.variant == "shuffled-labels":
        # as with a random split: training-side labels permuted, test labels kept true
        fit = np.concatenate([sp.train, sp.val])
        raw[fit] = raw[shuffled_rows(fit, cfg.seed)]
    enc = encode_genotypes(pool, onto, unknown="ignore")
    require_visible(enc, sp.train, pool.source, onto, "the training split")  # before a warning
    report_unknown(enc, pool.source, onto, cfg.unknown_genes)
    labels = LabelStats.fit(raw[sp.train], cfg.label_norm, pool.source)
    z = labels.to_train(raw, pool.source)
    info = {
        **sp.info,
        "pooled": [name for name, _ in sources],
        "pooled_genotypes": {name: len(ds) for name, ds in sources},
        "merged_duplicates": sum(len(ds) for _, ds in sources) - len(pool),
        "val_fraction": cfg.val_fraction,
        "holdout_fraction": cfg.holdout_fraction,
    }
    train, val, test = (Split(enc, rows, z, raw) for rows in (sp.train, sp.val, sp.test))
    return RunData(onto, pool.phenotypes[0], labels, train, val, test, info)


def overfit_rows(n: int, batch_size: int, batch_seed: int | None) -> np.ndarray:
    """The fixed overfit batch: the first ``batch_size`` genotypes, or a seeded draw (sorted)."""
    if batch_seed is None:
        return np.arange(batch_size, dtype=np.int64)
    rng = np.random.default_rng(batch_seed)
    return np.sort(rng.choice(n, batch_size, replace=False)).astype(np.int64)


def load_run_data(cfg: RunConfig) -> RunData:
    """Ontology, encoded genotypes, splits and label statistics for ``cfg``."""
    onto = run_ontology(base_ontology(cfg), cfg.variant, cfg.seed)
    if cfg.mode == "train" and cfg.split != "random":
        return _load_resplit(cfg, onto)
    sets = run_datasets(cfg.data, cfg)
    train_ds = sets["train"]
    _check_phenotype(cfg, train_ds, repr(cfg.data))
    if cfg.variant == "shuffled-labels":
        train_ds = shuffle_labels(train_ds, cfg.seed)
    enc = encode_genotypes(train_ds, onto, unknown="ignore")  # reported once rows are known
    raw = train_ds.values[:, cfg.phenotype].copy()  # float64 (the encoding holds float32)
    n = len(enc)
    val_rows = None
    if cfg.mode == "overfit":
        if cfg.batch_size > n:
            raise ConfigError(f"batch_size {cfg.batch_size} exceeds the {n} training genotypes")
        rows = overfit_rows(n, cfg.batch_size, cfg.batch_seed)
    else:
        # a seeded split of the training file; the dataset's own test file stays untouched
        val_rows, rows = random_split(n, cfg.val_fraction, cfg.split_seed)
    what = "the batch" if cfg.mode == "overfit" else "the training split"
    require_visible(enc, rows, train_ds.source, onto, what)  # before a warning on them
    report_unknown(enc, train_ds.source, onto, cfg.unknown_genes)
    labels = LabelStats.fit(raw[rows], cfg.label_norm, train_ds.source)
    z = labels.to_train(raw, train_ds.source)
    train = Split(enc, rows, z, raw)
    val = None if val_rows is None else Split(enc, val_rows, z, raw)
    test = None
    test_src = _test_source(cfg)
    if test_src is not None:
        test_ds = test_src[1]
        if cfg.phenotype >= len(test_ds.phenotypes):
            raise ConfigError(f"phenotype: the test data has no column {cfg.phenotype}")
        tenc = encode_genotypes(test_ds, onto, unknown=cfg.unknown_genes)
        traw = test_ds.values[:, cfg.phenotype].copy()
        test = Split(tenc, np.arange(len(tenc)), labels.to_train(traw, test_ds.source), traw)
    info: dict = {}
    if cfg.mode == "train":
        # what a random split leaks: test genotypes made only of training genes, pairs seen
        others = {"val": train_ds.subset(val_rows)}
        if test_src is not None:
            others["test"] = test_src[1]
        info = {
            "method": "random",
            "seed": cfg.split_seed,
            "sizes": {
                "train": len(rows),
                "val": len(val_rows),
                "test": 0 if test is None else len(test.rows),
            },
            "test_source": None if test_src is None else test_src[0],
            "val_fraction": cfg.val_fraction,
            "leakage": leakage_between(train_ds.subset(rows), others),
        }
    return RunData(onto, train_ds.phenotypes[cfg.phenotype], labels, train, val, test, info)
