"""What a run trains on: the ontology, the overfit batch or the train/val/test splits, and labels.

Everything here is loaded and checked *before* a run directory exists, so a bad option or a missing
file never leaves an empty run behind. Labels are z-scored with statistics of the data the model
is fitted on (the overfit batch, or the training split); the statistics are stored in the run and
inverted for predictions.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from dcellx.batch import EncodedGenotypes, PerturbationBatch, encode_genotypes, make_batch
from dcellx.data.genotypes import GenotypeDataset, load_dataset
from dcellx.diagnose.controls import shuffle_labels
from dcellx.errors import ConfigError
from dcellx.ontology.build import load_ontology
from dcellx.ontology.compiled import CompiledOntology
from dcellx.train.config import RunConfig
from dcellx.train.models import run_ontology


@dataclass
class LabelStats:
    """``z = (y - mean) / std``; ``norm="none"`` is mean 0, std 1."""

    norm: str
    mean: float
    std: float

    @classmethod
    def fit(cls, y: np.ndarray, norm: str) -> LabelStats:
        if norm == "none":
            return cls("none", 0.0, 1.0)
        std = float(np.std(y))
        if not std > 0:
            raise ConfigError("labels are constant: z-scoring is undefined (use --label-norm none)")
        return cls("zscore", float(np.mean(y)), std)

    def forward(self, y: np.ndarray) -> np.ndarray:
        return (y - self.mean) / self.std

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return np.asarray(z, dtype=np.float64) * self.std + self.mean


@dataclass
class Split:
    """Encoded genotypes, the rows of them in this split, and every row's normalised label."""

    enc: EncodedGenotypes
    rows: np.ndarray
    z: np.ndarray  # float32 [len(enc)], normalised labels
    raw: np.ndarray  # float64 [len(enc)], original units

    def batch(self, rows: np.ndarray) -> PerturbationBatch:
        """A batch whose ``y`` [B] holds the normalised labels of ``rows``."""
        b = make_batch(self.enc, rows)
        return dataclasses.replace(b, y=torch.from_numpy(self.z[rows]))


@dataclass
class RunData:
    onto: CompiledOntology  # the ontology the model is built on (a control's shuffled copy)
    phenotype: str
    labels: LabelStats
    train: Split  # overfit: rows = the fixed batch
    val: Split | None
    test: Split | None

    def describe(self) -> dict:
        return {
            "phenotype": self.phenotype,
            "train": len(self.train.rows),
            "val": 0 if self.val is None else len(self.val.rows),
            "test": 0 if self.test is None else len(self.test.rows),
            "invisible_genes": int(self.train.enc.invisible[self.train.rows].sum()),
        }


@lru_cache(maxsize=4)
def _ontology(go: str, overrides: str) -> CompiledOntology:
    return load_ontology(go, **json.loads(overrides))


@lru_cache(maxsize=4)
def _dataset(name: str) -> dict[str, GenotypeDataset]:
    return load_dataset(name)


def base_ontology(cfg: RunConfig) -> CompiledOntology:
    """``--go`` plus overrides (memoised in-process: a sweep compiles each ontology once)."""
    return _ontology(cfg.go, json.dumps(cfg.ontology.as_kwargs(), sort_keys=True))


def load_run_data(cfg: RunConfig) -> RunData:
    """Ontology, encoded genotypes, splits and label statistics for ``cfg``."""
    onto = run_ontology(base_ontology(cfg), cfg.variant, cfg.seed)
    sets = _dataset(cfg.data)
    train_ds = sets["train"]
    if cfg.phenotype >= len(train_ds.phenotypes):
        raise ConfigError(
            f"phenotype: column {cfg.phenotype} requested, {cfg.data!r} has "
            f"{len(train_ds.phenotypes)} ({', '.join(train_ds.phenotypes)})"
        )
    if cfg.variant == "shuffled-labels":
        train_ds = shuffle_labels(train_ds, cfg.seed)
    enc = encode_genotypes(train_ds, onto, unknown=cfg.unknown_genes)
    raw = train_ds.values[:, cfg.phenotype].copy()  # float64 (the encoding holds float32)
    n = len(enc)
    val_rows = None
    if cfg.mode == "overfit":
        if cfg.batch_size > n:
            raise ConfigError(f"batch_size {cfg.batch_size} exceeds the {n} training genotypes")
        if cfg.batch_seed is None:
            rows = np.arange(cfg.batch_size, dtype=np.int64)
        else:
            rng = np.random.default_rng(cfg.batch_seed)
            rows = np.sort(rng.choice(n, cfg.batch_size, replace=False)).astype(np.int64)
    else:
        # a seeded split of the training file; the dataset's own test file stays untouched
        perm = np.random.default_rng(cfg.seed).permutation(n)
        n_val = max(1, math.floor(cfg.val_fraction * n + 0.5))
        if n - n_val < 2:
            raise ConfigError(f"{n} training genotypes leave too few after a validation split")
        val_rows, rows = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    labels = LabelStats.fit(raw[rows], cfg.label_norm)
    z = labels.forward(raw).astype(np.float32)
    train = Split(enc, rows, z, raw)
    val = None if val_rows is None else Split(enc, val_rows, z, raw)
    test = None
    test_ds = None
    if cfg.mode == "train":
        test_sets = _dataset(cfg.test_data) if cfg.test_data else sets
        test_ds = test_sets.get("test", test_sets["train"] if cfg.test_data else None)
    if test_ds is not None:
        if cfg.phenotype >= len(test_ds.phenotypes):
            raise ConfigError(f"phenotype: the test data has no column {cfg.phenotype}")
        tenc = encode_genotypes(test_ds, onto, unknown=cfg.unknown_genes)
        traw = test_ds.values[:, cfg.phenotype].copy()
        test = Split(tenc, np.arange(len(tenc)), labels.forward(traw).astype(np.float32), traw)
    return RunData(onto, train_ds.phenotypes[cfg.phenotype], labels, train, val, test)
