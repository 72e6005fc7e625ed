"""Baselines: the sparse pair lookup, planted additive / pairwise signals recovered by the
runner, weights reloaded by ``predict``, and ``train --split genes`` reporting test metrics next to
DCell's."""

from __future__ import annotations

import csv
import json
from itertools import combinations

import numpy as np
import pytest
import torch

from dcellx.batch import encode_genotypes, make_batch
from dcellx.data.genotypes import GenotypeDataset, write_dcell_genotypes
from dcellx.data.simulate import simulate_genotypes
from dcellx.train.baselines import BASELINE_L2, PairwiseBaseline, batch_pairs, training_pairs
from dcellx.train.config import ALL_VARIANTS, make_run_config
from dcellx.train.loop import run
from dcellx.train.predict import predict
from tests.train.conftest import run_cli


def test_batch_pairs_matches_brute_force() -> None:
    sample = torch.tensor([0, 1, 1, 2, 2, 2, 3, 4, 4])  # a single, a double, a triple, ...
    gene = torch.tensor([5, 1, 7, 9, 2, 4, 3, 8, 0])
    shuffled = [4, 0, 8, 2, 6, 1, 3, 5, 7]  # pairs need no sorted input
    rows, keys = batch_pairs(sample[shuffled], gene[shuffled], 5, 10)
    got = sorted(zip(rows.tolist(), keys.tolist(), strict=True))
    want = []
    for b in range(5):
        gs = gene[sample == b].tolist()
        want += [(b, min(p) * 10 + max(p)) for p in combinations(gs, 2)]
    assert got == sorted(want)


def test_pairwise_unseen_pairs_contribute_zero(onto_dna) -> None:
    names = sorted(onto_dna.gene_index)[:4]
    ds = GenotypeDataset(
        [(names[0], names[1]), (names[2], names[3]), (names[0], names[2], names[3])],
        np.zeros((3, 1)),
        ["v"],
        "hand",
    )
    enc = encode_genotypes(ds, onto_dna)
    keys = training_pairs(enc, np.array([0]), onto_dna.num_genes)  # only row 0's pair is seen
    model = PairwiseBaseline(onto_dna.num_genes, keys)
    assert model.pair_weight.numel() == 1
    with torch.no_grad():
        model.pair_weight.fill_(5.0)
        model.gene_weight.fill_(1.0)
        model.bias.fill_(0.5)
    root, aux = model(make_batch(enc, [0, 1, 2]))
    assert root.tolist() == [0.5 + 2 + 5, 0.5 + 2, 0.5 + 3] and aux.shape == (3, 0)
    # the pair vocabulary travels with the weights: an empty model adopts it
    fresh = PairwiseBaseline(onto_dna.num_genes)
    fresh.load_term_state_dict(model.term_state_dict())
    assert torch.equal(fresh(make_batch(enc, [0, 1, 2]))[0], root)


def test_baseline_registry_and_ridge_default() -> None:
    assert {"additive", "pairwise"} <= set(ALL_VARIANTS)
    cfg = make_run_config(mode="train", variant="additive")
    assert cfg.model.l2 == BASELINE_L2 and cfg.model.variant == "binary"
    assert make_run_config(mode="train", variant="pairwise", l2=None, model={"l2": 0}).model.l2 == 0
    assert make_run_config(mode="train", variant="binary").model.l2 == 0


@pytest.fixture(scope="module")
def planted(onto_dna, tmp_path_factory):
    """Triples over 30 DNA-repair genes with additive effects plus strong planted pair effects
    (pairs recur across triples, so a pair term learned in training applies at test time)."""
    genes = sorted(onto_dna.gene_index)[:30]
    sim = simulate_genotypes(
        genes, order=3, n=2000, noise=0.1, seed=0, pair_fraction=0.3, pair_sd=1.0
    )
    d = tmp_path_factory.mktemp("planted")
    write_dcell_genotypes(sim.dataset.subset(slice(0, 1600)), d / "train.txt")
    write_dcell_genotypes(sim.dataset.subset(slice(1600, 2000)), d / "test.txt")
    return d


def _fit(data_dir, variant: str, runs, **extra):
    cfg = make_run_config(
        mode="train", go="dna-repair", data=str(data_dir / "train.txt"),
        test_data=str(data_dir / "test.txt"), variant=variant, epochs=20, lr=0.01, batch_size=64,
        threads=1, runs_dir=str(runs), quiet=True, **extra,
    )  # fmt: skip
    return run(cfg)


def test_baselines_fit_planted_signals(planted, tmp_path) -> None:
    add = _fit(planted, "additive", tmp_path).summary["metrics"]
    pair = _fit(planted, "pairwise", tmp_path).summary["metrics"]
    # the additive part alone explains most of y; only the pair terms explain the rest
    assert 0.8 < add["test"]["pearson"] < 0.97
    assert pair["test"]["pearson"] > 0.99 and pair["test"]["r2"] > 0.98
    assert pair["test"]["mse"] < 0.2 * add["test"]["mse"]
    for m in (add, pair):
        assert set(m) == {"train", "val", "test"}
        assert set(m["test"]) == {"pearson", "spearman", "mse", "r2", "n"} and m["test"]["n"] == 400


def test_additive_recovers_a_purely_additive_screen(onto_dna, tmp_path) -> None:
    sim = simulate_genotypes(sorted(onto_dna.gene_index), order=2, n=2000, noise=0.05, seed=1)
    write_dcell_genotypes(sim.dataset.subset(slice(0, 1600)), tmp_path / "train.txt")
    write_dcell_genotypes(sim.dataset.subset(slice(1600, 2000)), tmp_path / "test.txt")
    test = _fit(tmp_path, "additive", tmp_path / "runs").summary["metrics"]["test"]
    assert test["pearson"] > 0.99 and test["r2"] > 0.98


def test_pairwise_run_predicts_from_its_directory(planted, tmp_path) -> None:
    result = _fit(planted, "pairwise", tmp_path / "runs", keep_checkpoints="best")
    report = predict(result.run_dir, str(planted / "test.txt"), tmp_path / "p.csv")
    assert report["pearson"] == pytest.approx(result.summary["test_pearson"], abs=1e-9)
    cfg = json.loads((result.run_dir / "config.json").read_text())
    assert cfg["model"]["class"] == "PairwiseBaseline"
    assert cfg["data"]["split"]["method"] == "random"


def test_cli_train_split_genes_reports_test_metrics_for_dcell_and_baselines(tmp_path, cli_env):
    args = ["compare", "--mode", "train", "--go", "dna-repair", "--data", "dcell-dna-repair"]
    args += ["--variants", "binary,additive,pairwise", "--seeds", "1", "--set", "split=genes"]
    args += ["--epochs", "2", "--threads", "1", "--runs-dir", str(tmp_path / "runs"), "-q"]
    res = run_cli(args, cli_env, timeout=120)
    assert res.returncode == 0, res.stderr
    (sweep,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    with open(sweep / "compare.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["variant"] for r in rows] == ["binary", "additive", "pairwise"]
    splits = []
    for r in rows:
        summary = json.loads((sweep / r["run_id"] / "summary.json").read_text())
        test = summary["metrics"]["test"]
        assert all(np.isfinite(test[k]) for k in ("pearson", "spearman", "mse", "r2"))
        assert float(r["test_pearson"]) == pytest.approx(test["pearson"])
        assert summary["split"]["leakage"]["test"]["genotypes_all_genes_seen"] == 0
        splits.append(summary["split"])
    assert splits[0] == splits[1] == splits[2]  # the same genotypes for every variant
