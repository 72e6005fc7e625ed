"""Splits: seeded and deterministic; ``genes`` and ``pairs`` hold out what they promise, checked
independently of the code that made them; ``train`` records the split and its leakage counts."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from dcellx.data.datasets import load_dataset
from dcellx.data.genotypes import GenotypeDataset
from dcellx.data.simulate import simulate_genotypes
from dcellx.errors import ConfigError
from dcellx.train.config import make_run_config
from dcellx.train.data import load_run_data, pool_datasets
from dcellx.train.splits import random_split, split_genotypes


def _mixed(n_genes: int = 40) -> list[tuple[str, ...]]:
    """Singles, doubles and triples over one gene list (distinct gene sets)."""
    genes = [f"G{i:03d}" for i in range(n_genes)]
    out: list[tuple[str, ...]] = []
    for order, n in ((1, 30), (2, 300), (3, 300)):
        out += simulate_genotypes(genes, order=order, n=n, seed=order).dataset.genes
    return list(dict.fromkeys(out))


def _genes(gs, rows) -> set[str]:
    return {g for r in rows for g in gs[r]}


def _pairs(gs, rows) -> set[frozenset[str]]:
    return {frozenset(p) for r in rows for p in combinations(gs[r], 2)}


@pytest.mark.parametrize("method", ["random", "genes", "pairs"])
def test_seeded_splits_are_deterministic_and_partition(method) -> None:
    gs = _mixed()
    kw = {"val_fraction": 0.1, "test_fraction": 0.2}
    a = split_genotypes(gs, method, seed=3, **kw)
    b = split_genotypes(gs, method, seed=3, **kw)
    c = split_genotypes(gs, method, seed=4, **kw)
    for part in ("train", "val", "test"):
        assert np.array_equal(getattr(a, part), getattr(b, part))
    assert not np.array_equal(a.test, c.test)
    rows = np.concatenate([a.train, a.val, a.test])
    assert np.array_equal(np.sort(rows), np.arange(len(gs)))  # a partition
    assert len(a.test) >= 0.2 * len(gs) - 0.5 and len(a.val) >= 0.1 * len(gs) - 0.5
    assert a.info == b.info and a.info["sizes"]["test"] == len(a.test)


def test_genes_split_every_heldout_genotype_has_an_unseen_gene() -> None:
    gs = _mixed()
    sp = split_genotypes(gs, "genes", val_fraction=0.1, test_fraction=0.2, seed=0)
    seen = _genes(gs, sp.train)
    for part in (sp.val, sp.test):
        assert all(set(gs[r]) - seen for r in part)
    # genotypes made only of training genes are all in training: nothing wasted
    assert all(not set(gs[r]) - seen for r in range(len(gs)) if r not in set(sp.val) | set(sp.test))
    # a test gene occurs in no validation genotype either (early stopping sees no test gene)
    test_only = _genes(gs, sp.test) - seen - _genes(gs, sp.val)
    assert all(set(gs[r]) & test_only for r in sp.test)
    leak = sp.info["leakage"]
    assert leak["test"]["genotypes_all_genes_seen"] == 0 == leak["val"]["genotypes_all_genes_seen"]
    held = sp.info["held_out"]
    assert held["test_genes"] + held["val_genes"] == len(_genes(gs, range(len(gs))) - seen)


def test_pairs_split_no_heldout_pair_in_training() -> None:
    gs = _mixed()
    sp = split_genotypes(gs, "pairs", val_fraction=0.1, test_fraction=0.2, seed=0)
    train_pairs = _pairs(gs, sp.train)
    # every held-out genotype has a pair never seen in training (a double: its only pair) ...
    for part in (sp.val, sp.test):
        assert all(_pairs(gs, [r]) - train_pairs for r in part)
    doubles = [r for r in sp.test if len(gs[r]) == 2]
    assert doubles and not _pairs(gs, doubles) & train_pairs
    # ... and every genotype holding no unseen pair trains
    held = set(sp.val.tolist()) | set(sp.test.tolist())
    heldout_pairs = _pairs(gs, held) - train_pairs
    assert all(not _pairs(gs, [r]) & heldout_pairs for r in sp.train)
    singles = {r for r, g in enumerate(gs) if len(g) == 1}
    assert singles <= set(sp.train.tolist())  # no pair, nothing to hold out
    leak = sp.info["leakage"]
    assert leak["test"]["genotypes_all_pairs_seen"] == 0 == leak["val"]["genotypes_all_pairs_seen"]
    # a triple's other pairs may be seen: the record counts them, a random split leaks more
    rnd = split_genotypes(gs, "random", val_fraction=0.1, test_fraction=0.2, seed=0)
    assert rnd.info["leakage"]["test"]["genotypes_all_pairs_seen"] > 0


def test_random_split_keeps_the_original_permutation() -> None:
    perm = np.random.default_rng(5).permutation(100)
    val, train = random_split(100, 0.1, 5)
    assert np.array_equal(val, np.sort(perm[:10])) and np.array_equal(train, np.sort(perm[10:]))


def test_split_errors() -> None:
    gs = [("A", "B"), ("A", "C"), ("B", "C")]
    with pytest.raises(ConfigError):
        split_genotypes(gs, "genes", val_fraction=0.4, test_fraction=0.4, seed=0)
    with pytest.raises(ConfigError, match="overfit"):
        make_run_config(split="genes")
    with pytest.raises(ConfigError, match="holdout_fraction"):
        make_run_config(mode="train", split="genes", val_fraction=0.5, holdout_fraction=0.5)
    assert make_run_config(mode="train", seed=7).split_seed == 7


def test_pool_merges_genotypes_present_in_both_files() -> None:
    a = GenotypeDataset([("A", "B"), ("C",)], np.array([[1.0], [2.0]]), ["v"], "a")
    b = GenotypeDataset([("B", "A")], np.array([[4.0]]), ["v"], "b", counts=np.array([3]))
    pool = pool_datasets([("a", a), ("b", b)], 0)
    assert pool.genes == [("A", "B"), ("C",)]
    assert pool.values[:, 0].tolist() == [(1.0 + 3 * 4.0) / 4, 2.0]
    assert pool.counts.tolist() == [4, 1]


def test_train_genes_split_pools_the_named_test_file() -> None:
    """--split genes on dcell-dna-repair re-splits train+test; the record proves no leak."""
    cfg = make_run_config(mode="train", go="dna-repair", split="genes", seed=1)
    data = load_run_data(cfg)
    info = data.describe()["split"]
    sets = load_dataset("dcell-dna-repair")
    total = len(sets["train"]) + len(sets["test"])
    assert info["pooled"] == ["dcell-dna-repair:train", "dcell-dna-repair:test"]
    assert sum(info["sizes"].values()) == total - info["merged_duplicates"]
    assert info["leakage"]["test"]["genotypes_all_genes_seen"] == 0
    # checked again on the encoded genotypes the model sees
    enc = data.train.enc
    seen = set(np.concatenate([enc.genes[enc.ptr[r] : enc.ptr[r + 1]] for r in data.train.rows]))
    for r in data.test.rows:
        assert set(enc.genes[enc.ptr[r] : enc.ptr[r + 1]].tolist()) - seen
    # random: the official test file, and the record shows that every test genotype leaks
    rnd = load_run_data(make_run_config(mode="train", go="dna-repair", seed=1))
    info = rnd.describe()["split"]
    assert info["method"] == "random" and info["test_source"] == "dcell-dna-repair:test"
    assert info["leakage"]["test"]["genotypes_all_genes_seen"] == len(sets["test"])
