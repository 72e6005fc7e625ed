"""Seeded train/validation/test splits of genotypes: ``random``, ``genes`` and ``pairs``.

A random split of double mutants puts nearly every gene of the test set into training too, so a test
score measures interpolation between genotypes made of familiar genes. The ``genes`` split is the
honest test for generalisation to new genes; ``pairs`` the one for new combinations of known genes.

How units are held out (one seeded permutation of the *units*, genes or gene pairs, walked in
order): a genotype's *rank* is the smallest permutation position among its units. The first units
of the walk are the test units, and exactly the genotypes containing one of them are test genotypes;
the walk stops at the first unit where the test genotypes reach ``test_fraction`` of all genotypes
(a hub gene may overshoot it). The walk goes on for validation units until the genotypes that hold
a validation unit and no test unit reach ``val_fraction``. Every other genotype is training. Hence:

* ``genes``: a test genotype contains at least one test gene, and a test gene occurs in no training
  (and no validation) genotype; genotypes mixing held-out and seen genes are test (or validation)
  genotypes, genotypes made only of training genes are training genotypes. The same holds for
  validation genes against training, so early stopping also selects for unseen genes.
* ``pairs``: a genotype is held out if it contains a held-out pair (a double mutant *is* its pair;
  a triple is held out if any of its three pairs is). No held-out pair occurs in a training
  genotype, so every test genotype has at least one pair never seen in training (a double: its
  only pair; a triple's other pairs may be seen). Single mutants have no pair and always train.
  The genes themselves are seen in training: this tests new combinations of known genes.

Splits are made on gene *names* of the dataset, before any ontology is applied, so every variant
and ontology sees the same split for a given seed. Everything is vectorised numpy (O(perturbed genes
log)), so a full Costanzo screen splits in seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Literal

import numpy as np

from dcellx.data.codes import concat_codes, csr, distinct
from dcellx.data.store import GenotypeDataset, joint_codes
from dcellx.errors import ConfigError

SplitMethod = Literal["random", "genes", "pairs"]
SPLIT_METHODS: tuple[str, ...] = ("random", "genes", "pairs")


@dataclass
class GenotypeSplit:
    """Row indices of each part (sorted) and the facts the run records about the split."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    info: dict = field(default_factory=dict)


@dataclass
class _Coded:
    """Genotypes as integer gene codes in CSR form (codes index ``names``, sorted)."""

    names: np.ndarray  # str [G]
    ptr: np.ndarray  # int64 [N+1]
    genes: np.ndarray  # int64 [K]

    @classmethod
    def of(cls, genotypes: GenotypeDataset | Sequence[GenotypeDataset]) -> _Coded:
        """The rows of one dataset, or of several in turn, with names coded in sorted order
        (names no row uses are left out, so codes do not depend on a reader's vocabulary)."""
        parts = [genotypes] if isinstance(genotypes, GenotypeDataset) else list(genotypes)
        blocks, vocab = joint_codes(parts)
        codes = concat_codes(blocks)
        ptr, flat = csr(codes)
        used = distinct(flat)
        names = np.asarray(vocab, dtype=str)[used]
        order = np.argsort(names, kind="stable")
        rank = np.empty(len(vocab), dtype=np.int64)
        rank[used[order]] = np.arange(len(used), dtype=np.int64)
        return cls(names[order], ptr, rank[flat])

    def __len__(self) -> int:
        return len(self.ptr) - 1

    @property
    def owner(self) -> np.ndarray:
        """Genotype row of every entry of ``genes``."""
        return np.repeat(np.arange(len(self), dtype=np.int64), np.diff(self.ptr))

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(genotype row, pair key ``lo * G + hi``) for every unordered gene pair in a genotype."""
        lens = np.diff(self.ptr)
        kmax = int(lens.max()) if len(lens) else 0
        if kmax < 2:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        n_genes = len(self.names)
        pad = np.full((len(self), kmax), -1, dtype=np.int64)
        pos = np.arange(len(self.genes), dtype=np.int64) - np.repeat(self.ptr[:-1], lens)
        pad[self.owner, pos] = self.genes
        rows, keys = [], []
        for a, b in combinations(range(kmax), 2):
            ok = np.flatnonzero((pad[:, a] >= 0) & (pad[:, b] >= 0) & (pad[:, a] != pad[:, b]))
            lo = np.minimum(pad[ok, a], pad[ok, b])
            hi = np.maximum(pad[ok, a], pad[ok, b])
            rows.append(ok)
            keys.append(lo * n_genes + hi)
        return np.concatenate(rows), np.concatenate(keys)


def _count(fraction: float, n: int) -> int:
    return max(1, math.floor(fraction * n + 0.5))


def random_split(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(val rows, train rows) of a seeded permutation: ``train``'s original behaviour, kept
    bit-for-bit so that random-split runs reproduce their earlier ``metrics.csv``."""
    perm = np.random.default_rng(seed).permutation(n)
    n_val = _count(val_fraction, n)
    if n - n_val < 2:
        raise ConfigError(f"{n} training genotypes leave too few after a validation split")
    return np.sort(perm[:n_val]), np.sort(perm[n_val:])


def _walk(
    owner: np.ndarray,
    unit: np.ndarray,
    n_units: int,
    n: int,
    fractions: tuple[float, float],
    seed: int,
) -> tuple[np.ndarray, int, int]:
    """Hold out units in seeded order (see the module docstring); returns the part of every
    genotype (0 train, 1 val, 2 test) and the number of test and validation units."""
    rank = np.empty(n_units, dtype=np.int64)
    rank[np.random.default_rng(seed).permutation(n_units)] = np.arange(n_units)
    first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)  # rank of a genotype's first unit
    np.minimum.at(first, owner, rank[unit])
    ordered = np.sort(first[first < n_units])  # genotypes that have any unit at all
    part = np.zeros(n, dtype=np.int8)
    want_test, want_val = (_count(f, n) for f in fractions)
    if len(ordered) < want_test + want_val:
        raise ConfigError(
            f"only {len(ordered)} of {n} genotypes can be held out this way; "
            f"{want_test} test + {want_val} validation were asked for"
        )
    cut_test = int(ordered[want_test - 1]) + 1  # test units: ranks < cut_test
    part[first < cut_test] = 2
    n_test = int((part == 2).sum())
    cut_val = int(ordered[min(n_test + want_val, len(ordered)) - 1]) + 1
    part[(first >= cut_test) & (first < cut_val)] = 1
    if not (part == 1).any():
        raise ConfigError(
            f"the test units already cover {n_test} of the {len(ordered)} genotypes that can be "
            "held out: none left for validation (lower holdout_fraction)"
        )
    return part, cut_test, cut_val - cut_test


def _member(x: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """bool: each ``x`` in ``sorted_set`` (a binary search; ``np.isin`` hashes slowly here)."""
    if len(sorted_set) == 0:
        return np.zeros(len(x), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_set, x), len(sorted_set) - 1)
    return sorted_set[at] == x


def leakage(coded: _Coded, train: np.ndarray, rows: np.ndarray) -> dict[str, int]:
    """How much of ``rows`` the training genotypes already show: genotypes whose genes are all seen
    in training, distinct gene pairs (and of them, those seen in training), and genotypes with a
    pair whose pairs are all seen. The split's check values: a ``genes`` split has
    ``genotypes_all_genes_seen == 0``, a ``pairs`` split ``genotypes_all_pairs_seen == 0`` (and,
    for double mutants, ``pairs_seen_in_train == 0``)."""
    seen_gene = np.zeros(len(coded.names), dtype=bool)
    in_train = np.zeros(len(coded), dtype=bool)
    in_train[train] = True
    owner = coded.owner
    seen_gene[coded.genes[in_train[owner]]] = True
    unseen = np.bincount(owner, weights=~seen_gene[coded.genes], minlength=len(coded))
    prow, pkey = coded.pairs()
    train_pairs = distinct(pkey[in_train[prow]])
    chosen = np.zeros(len(coded), dtype=bool)
    chosen[rows] = True
    mine = chosen[prow]
    seen_pair = _member(pkey[mine], train_pairs)
    unseen_pairs = np.bincount(prow[mine], weights=~seen_pair, minlength=len(coded))
    has_pair = np.zeros(len(coded), dtype=bool)
    has_pair[prow] = True
    return {
        "genotypes_all_genes_seen": int((unseen[rows] == 0).sum()),
        "pairs": int(len(distinct(pkey[mine]))),
        "pairs_seen_in_train": int(len(distinct(pkey[mine][seen_pair]))),
        "genotypes_all_pairs_seen": int(((unseen_pairs[rows] == 0) & has_pair[rows]).sum()),
    }


def split_genotypes(
    genotypes: GenotypeDataset | Sequence[tuple[str, ...]],
    method: SplitMethod,
    *,
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> GenotypeSplit:
    """Split the rows of ``genotypes`` into train/val/test by ``genes`` or ``pairs``
    (``random`` here also carves a test part; ``train`` itself splits random runs with
    ``random_split`` against the dataset's own test file). Fractions count genotypes."""
    if method not in SPLIT_METHODS:
        raise ConfigError(f"split: unknown method {method!r}; choose from {SPLIT_METHODS}")
    if not isinstance(genotypes, GenotypeDataset):  # name tuples
        genotypes = GenotypeDataset(list(genotypes), None, [], "genotypes")
    coded = _Coded.of(genotypes)
    n = len(coded)
    if method == "random":
        perm = np.random.default_rng(seed).permutation(n)
        n_test, n_val = _count(test_fraction, n), _count(val_fraction, n)
        part = np.zeros(n, dtype=np.int8)
        part[perm[:n_test]] = 2
        part[perm[n_test : n_test + n_val]] = 1
        units = {}
    elif method == "genes":
        part, n_test_units, n_val_units = _walk(
            coded.owner, coded.genes, len(coded.names), n, (test_fraction, val_fraction), seed
        )
        units = {"genes": len(coded.names), "test_genes": n_test_units, "val_genes": n_val_units}
    else:
        prow, pkey = coded.pairs()
        keys, pair_id = np.unique(pkey, return_inverse=True)
        part, n_test_units, n_val_units = _walk(
            prow, pair_id.ravel(), len(keys), n, (test_fraction, val_fraction), seed
        )
        units = {"pairs": len(keys), "test_pairs": n_test_units, "val_pairs": n_val_units}
    train, val, test = (np.flatnonzero(part == p).astype(np.int64) for p in (0, 1, 2))
    if len(train) < 2:
        raise ConfigError(f"split {method!r} leaves {len(train)} training genotypes")
    info = {
        "method": method,
        "seed": seed,
        "sizes": {"train": len(train), "val": len(val), "test": len(test)},
        "held_out": units,
        "leakage": {"val": leakage(coded, train, val), "test": leakage(coded, train, test)},
    }
    return GenotypeSplit(train, val, test, info)


def leakage_between(
    train: GenotypeDataset, others: dict[str, GenotypeDataset]
) -> dict[str, dict[str, int]]:
    """``leakage`` of each named dataset against ``train`` (e.g. a random split against the
    dataset's own test file, where it shows how much a random split leaks)."""
    names = list(others)
    coded = _Coded.of([train, *(others[k] for k in names)])
    train_rows = np.arange(len(train), dtype=np.int64)
    out, start = {}, len(train)
    for k in names:
        rows = np.arange(start, start + len(others[k]), dtype=np.int64)
        out[k] = leakage(coded, train_rows, rows)
        start += len(others[k])
    return out
