"""Diagnostics and RLIPP of a real (short) overfit run on the DNA-repair ontology."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dcellx.diagnose.run_stats import load_run, run_diagnostics, run_rlipp
from dcellx.train.config import make_run_config
from dcellx.train.loop import run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    cfg = make_run_config(
        "paper",
        go="dna-repair",
        epochs=30,
        threads=1,
        runs_dir=str(tmp_path_factory.mktemp("runs")),
        quiet=True,
    )
    return run(cfg).run_dir


def test_run_diagnostics_per_stratum(run_dir: Path) -> None:
    out = run_diagnostics(run_dir)
    assert out["samples"] == 32
    assert [r["stratum"] for r in out["strata"]] == list(range(5))
    assert any(r["grad_norm"] > 0 for r in out["strata"])
    # the same figures recomputed in float64 numpy from the engine's own trace of a train-mode
    # forward: the diagnostics read the right neurons and the right running statistics
    _, data, model = load_run(run_dir)
    running = (model.running_mean[0].double().numpy(), model.running_var[0].double().numpy())
    model.train()  # this forward updates the running statistics: they were read before it
    model.trace = []
    with torch.no_grad():
        model(data.train.batch(data.train.rows[:512]))
    first_layers = [t for t in model.trace if t[1] == 0]
    eps = model.cfg.bn_eps
    assert model.cfg.block == "linear-tanh-norm"  # paper: O = BN(tanh(z)), BN normalises tanh(z)
    for r, (s, _layer, z, pre, _h) in zip(out["strata"], first_layers, strict=True):
        n0, n1 = model.layout.strata[s].neurons
        assert r["stratum"] == s and r["neurons"] == n1 - n0 == z.shape[0]
        x = pre.double().numpy()  # tanh(z) [neurons, batch]
        assert np.allclose(x, np.tanh(z.double().numpy()), atol=1e-6)
        mu_r, var_r = running[0][n0:n1], running[1][n0:n1]
        gap = np.mean(np.abs(x.mean(1) - mu_r) / np.sqrt(var_r + eps))
        assert r["bn_mean_gap"] == pytest.approx(gap, rel=1e-4, abs=1e-6)
        assert r["saturated_fraction"] == pytest.approx(np.mean(np.abs(x) > 0.99))
    assert any(r["bn_mean_gap"] > 0.01 for r in out["strata"])  # running stats lag the batch


def test_rlipp_cli_writes_csv(run_dir: Path) -> None:
    cmd = [
        sys.executable,
        "-c",
        "from dcellx_cli.main import main; main()",
        "rlipp",
        "--run",
        str(run_dir),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader((run_dir / "rlipp.csv").open()))
    assert list(rows[0]) == ["term", "name", "parent_rho", "children_rho", "rlipp_ratio", "rlipp"]
    # terms with children only: the DNA-repair topology has 21 terms, 10 leaves
    assert len(rows) == 11
    direct = run_rlipp(run_dir, target="phenotype")
    assert len(direct) == 11
