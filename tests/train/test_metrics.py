"""Correlation helpers against scipy, and the metrics log's truncation on resume."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from dcellx.train.metrics import COLUMNS, MetricsLog, pearson, read_metrics, spearman


def test_correlations_match_scipy() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        x = rng.normal(size=32)
        y = np.round(x + rng.normal(size=32), 1)  # ties in y
        x[:4] = x[0]  # and in x
        assert math.isclose(pearson(x, y), stats.pearsonr(x, y)[0], rel_tol=1e-12)
        assert math.isclose(spearman(x, y), stats.spearmanr(x, y)[0], rel_tol=1e-12)
    assert math.isnan(pearson(np.ones(5), np.arange(5.0)))
    assert math.isnan(spearman(np.array([1.0, np.nan, 2.0]), np.arange(3.0)))


def test_log_truncates_to_checkpoint_epoch(tmp_path) -> None:
    log = MetricsLog(tmp_path, COLUMNS)
    for e in range(1, 6):
        log.append({c: float(e) for c in COLUMNS} | {"epoch": e})
    log.close()
    with open(tmp_path / "metrics.csv", "a") as fh:
        fh.write("6,0.1,0.2")  # a line torn by SIGKILL
    log = MetricsLog(tmp_path, COLUMNS, resume_epoch=3)
    log.append({c: 9.0 for c in COLUMNS} | {"epoch": 4})
    log.close()
    rows = read_metrics(tmp_path)
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4] and rows[-1]["loss_total"] == 9.0
    jsonl = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(jsonl) == 4
