"""Run directories and a sweep written before the layers refactor (``tests/fixtures/rundirs-v1``,
see its README) still collect, resume and predict with today's code, and give the same numbers."""

from __future__ import annotations

import csv
import gzip
import json
import shutil
from pathlib import Path

import pytest

from dcellx.train import make_run_config, resume, run
from dcellx.train.compare import _point_key, collect
from dcellx.train.config import load_run_config
from dcellx.train.predict import predict
from dcellx.train.rundir import read_json
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
    # the old run predates RunConfig.engine and .buckets: it ran, and resumes, on autograd with
    # the fixed buckets (config.PREDATED), so the fresh run of its config does too
    old_cfg = load_run_config(read_json(run_dir / "config.json")["run"])
    assert (old_cfg.engine, old_cfg.buckets) == ("autograd", "ratio-1.3")
    fresh = run(
        make_run_config(
            go="dna-repair",
            epochs=40,
            seed=4,
            threads=1,
            quiet=True,
            runs_dir=str(tmp_path / "new"),
            engine="autograd",
            buckets="ratio-1.3",
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


def test_old_run_resumes_under_max_steps(old, tmp_path) -> None:
    """Its checkpoint predates the step count: the 9 epochs it completed are 9 overfit steps, so
    ``--max-steps 15`` ends it at epoch 15, as a fresh run capped at 15 steps."""
    (run_dir,) = (old / "runs").iterdir()
    res = resume(run_dir, quiet=True, mode="overfit", flags={"fields": {"max_steps": 15}})
    assert (res.summary["status"], res.summary["steps"], res.summary["epochs"]) == (
        "max_steps", 15, 15,
    )  # fmt: skip
    fresh = run(
        make_run_config(
            go="dna-repair", epochs=40, max_steps=15, seed=4, threads=1, quiet=True,
            runs_dir=str(tmp_path / "new"), engine="autograd", buckets="ratio-1.3",
        )
    ).run_dir  # fmt: skip
    assert metrics_without_seconds(run_dir) == metrics_without_seconds(fresh)


def test_old_configs_match_sweep_points_on_new_fields(old) -> None:
    """A grid over a field an old config.json lacks reads it as the default it ran with."""
    for cfg_path in (old / "sweep").glob("*/config.json"):
        recorded = json.loads(cfg_path.read_text())["run"]
        assert "max_steps" not in recorded and "score_sample" not in recorded
        keys = ["max_steps", "score_sample", "lr", "engine", "buckets"]
        new = {**recorded, "max_steps": None, "score_sample": None}
        new |= {"engine": "autograd", "buckets": "ratio-1.3"}  # what it ran with
        assert _point_key(recorded, keys) == _point_key(new, keys)
        assert load_run_config(recorded) == load_run_config(new)
