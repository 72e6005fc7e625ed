"""Diagnostics and RLIPP of a real (short) overfit run on the DNA-repair ontology."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from dcellx.diagnose.run_stats import run_diagnostics, run_rlipp
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
    for r in out["strata"]:
        assert 0 <= r["saturated_fraction"] <= 1
        assert r["bn_mean_gap"] >= 0 and r["bn_logvar_gap"] >= 0
    assert any(r["grad_norm"] > 0 for r in out["strata"])


def test_rlipp_cli_writes_csv(run_dir: Path) -> None:
    cmd = [
        sys.executable,
        "-c",
        "from cli.main import main; main()",
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
