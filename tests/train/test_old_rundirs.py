"""Run directories and a sweep written before the layers refactor (``tests/fixtures/rundirs-v1``,
see its README) still collect, resume and predict with today's code, and give the same numbers."""

from __future__ import annotations

import csv
import gzip
import shutil
from pathlib import Path

import pytest

from dcellx.train import make_run_config, resume, run
from dcellx.train.compare import collect
from dcellx.train.predict import predict
from tests.train.conftest import metrics_without_seconds

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "rundirs-v1"


@pytest.fixture
def old(tmp_path) -> Path:
    dest = tmp_path / "v1"
    shutil.copytree(FIXTURE, dest)
    return dest


def _rows(path: Path, opener=open) -> list[dict[str, str]]:
    with opener(path, "rt", newline="") as fh:
        return list(csv.DictReader(fh))


def test_old_sweep_collects_to_the_same_tables(old) -> None:
    before = _rows(old / "sweep" / "compare.csv")
    (old / "sweep" / "compare.csv").unlink()
    res = collect(old / "sweep")
    assert not res.missing and not res.failed and len(res.runs) == 2
    assert _rows(old / "sweep" / "compare.csv") == before


def test_old_run_resumes_to_what_a_fresh_run_computes(old, tmp_path) -> None:
    (run_dir,) = (old / "runs").iterdir()
    assert not (run_dir / "summary.json").exists()  # stopped by SIGTERM after epoch 9 of 40
    resume(run_dir, quiet=True)
    fresh = run(
        make_run_config(
            go="dna-repair",
            epochs=40,
            seed=4,
            threads=1,
            quiet=True,
            runs_dir=str(tmp_path / "new"),
        )
    ).run_dir
    resumed = metrics_without_seconds(run_dir)
    assert len(resumed) == 41
    assert resumed == metrics_without_seconds(fresh)


def test_old_run_predicts_the_same(old, tmp_path) -> None:
    (run_dir,) = (old / "runs").iterdir()
    out = tmp_path / "pred.csv"
    predict(run_dir, "dcell-dna-repair", out, weights="last")
    assert _rows(out) == _rows(old / "predict-test.csv.gz", gzip.open)
