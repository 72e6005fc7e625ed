"""Helpers for the runner tests: small real runs on the DNA-repair ontology and genotypes."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dcellx.data.datasets import load_dataset
from dcellx.data.genotypes import write_dcell_genotypes

ROOT = Path(__file__).resolve().parents[2]
# The CLI as the console script runs it (main() maps library errors to one line, exit 2).
CLI = [sys.executable, "-c", "from dcellx_cli.main import main; main()"]


@pytest.fixture(scope="session")
def _train_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("dcellx-cache")


@pytest.fixture(autouse=True)
def _private_cache(_train_cache, monkeypatch) -> None:
    """Compiled ontologies go to a private cache, not the user's."""
    monkeypatch.setenv("DCELLX_CACHE", str(_train_cache))


@pytest.fixture(autouse=True)
def _restore_threads():
    """Runs set torch's thread count from their config; keep other tests unaffected."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture
def cli_env(tmp_path) -> dict[str, str]:
    """Environment for CLI subprocesses: the shared mirror, a private cache."""
    env = dict(os.environ)
    env["DCELLX_CACHE"] = str(tmp_path / "cache")
    env["PYTHONPATH"] = str(ROOT)
    return env


def run_cli(args: list[str], env: dict[str, str], timeout: float = 60):
    return subprocess.run(
        [*CLI, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def metrics_without_seconds(run_dir: Path) -> list[list[str]]:
    """metrics.csv as text cells, the wall-clock column dropped."""
    with open(run_dir / "metrics.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    drop = rows[0].index("seconds")
    return [r[:drop] + r[drop + 1 :] for r in rows]


def only_run(runs_dir: Path) -> Path:
    dirs = [p for p in runs_dir.iterdir() if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


@pytest.fixture(scope="session")
def small_data(tmp_path_factory) -> Path:
    """The first 400 real DNA-repair training genotypes, as a DCell-format file (train mode in
    a fraction of a second per epoch)."""
    path = tmp_path_factory.mktemp("data") / "dna-repair-400.txt"
    write_dcell_genotypes(load_dataset("dcell-dna-repair")["train"].subset(slice(0, 400)), path)
    return path


@pytest.fixture(scope="session")
def small_test_data(tmp_path_factory) -> Path:
    """The first 300 real DNA-repair test genotypes."""
    path = tmp_path_factory.mktemp("data") / "dna-repair-test-300.txt"
    write_dcell_genotypes(load_dataset("dcell-dna-repair")["test"].subset(slice(0, 300)), path)
    return path
