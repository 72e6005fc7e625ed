"""RLIPP on a synthetic hierarchy with one planted informative term."""

from __future__ import annotations

import numpy as np

from dcellx.diagnose.rlipp import pca, ridge_cv_predict, rlipp


def test_planted_term_has_the_largest_rlipp() -> None:
    rng = np.random.default_rng(0)
    n = 200
    y = rng.normal(size=n)
    # terms: 0,1 leaves (noise); 2 = parent of 0,1 whose neurons encode y nonlinearly from nothing
    # its children carry; 3 = parent of 2 that just copies 2 (no improvement)
    w = 5
    noise0, noise1 = rng.normal(size=(w, n)), rng.normal(size=(w, n))
    informative = np.vstack([y + 0.1 * rng.normal(size=n) for _ in range(w)])
    copy = informative + 0.01 * rng.normal(size=(w, n))
    states = np.vstack([noise0, noise1, informative, copy])
    offsets = np.arange(0, 5 * w, w)
    children = [np.array([], int), np.array([], int), np.array([0, 1]), np.array([2])]
    rows = {r["term"]: r for r in rlipp(states, offsets, children, y)}
    assert set(rows) == {2, 3}
    assert rows[2]["parent_rho"] > 0.9 and abs(rows[2]["children_rho"]) < 0.5
    assert rows[2]["rlipp"] > rows[3]["rlipp"]
    assert abs(rows[3]["rlipp_ratio"] - 1) < 0.05
    assert np.isclose(rows[2]["rlipp"], rows[2]["rlipp_ratio"] - 1)


def test_pca_and_ridge_basics() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(100, 6))
    assert pca(x, 4).shape == (100, 4)
    y = x @ np.arange(6) + 0.01 * rng.normal(size=100)
    pred = ridge_cv_predict(x, y)
    assert np.corrcoef(pred, y)[0, 1] > 0.99
