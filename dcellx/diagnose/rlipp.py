"""RLIPP: relative local improvement in predictive power (Ma et al. 2018; NeST-VNN's code).

For each term t with children: reduce the term's neuron states and the concatenated states of its
children to k = 4 principal components over the samples, fit a ridge regression (penalty chosen by
5-fold CV) from each to the target, and compare their in-sample Spearman correlations:

    rlipp_ratio = rho_parent / rho_children          (what NeST-VNN's code returns)
    rlipp       = (rho_parent - rho_children) / rho_children   (the papers' definition)

The target defaults to the model's own root prediction (as NeST-VNN does), or the phenotype.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

ALPHAS = np.logspace(-3, 3, 13)


def pca(x: np.ndarray, k: int = 4) -> np.ndarray:
    """Scores of the first ``k`` principal components of ``x`` [n, f] (centred)."""
    xc = x - x.mean(0, keepdims=True)
    if not np.any(xc):
        return np.zeros((x.shape[0], 1))
    u, s, _ = np.linalg.svd(xc, full_matrices=False)
    k = min(k, int((s > 1e-10 * s[0]).sum()))
    return u[:, :k] * s[:k]


def _ridge_fit(x: np.ndarray, y: np.ndarray, alpha: float) -> tuple[np.ndarray, float]:
    xm, ym = x.mean(0), y.mean()
    xc = x - xm
    w = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ (y - ym))
    return w, ym - xm @ w


def ridge_cv_predict(x: np.ndarray, y: np.ndarray, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Choose the ridge penalty by k-fold CV on squared error, refit on all, predict in-sample."""
    n = len(y)
    idx = np.random.default_rng(seed).permutation(n)
    parts = np.array_split(idx, min(folds, n))
    best, best_err = ALPHAS[0], np.inf
    for a in ALPHAS:
        err = 0.0
        for p in parts:
            train = np.setdiff1d(idx, p)
            w, b = _ridge_fit(x[train], y[train], a)
            err += float(((x[p] @ w + b - y[p]) ** 2).sum())
        if err < best_err:
            best, best_err = a, err
    w, b = _ridge_fit(x, y, best)
    return x @ w + b


def _rho(pred: np.ndarray, y: np.ndarray) -> float:
    if np.std(pred) == 0 or np.std(y) == 0:
        return 0.0
    return float(spearmanr(pred, y).statistic)


def rlipp(
    states: np.ndarray,
    offsets: np.ndarray,
    children: list[np.ndarray],
    target: np.ndarray,
    k: int = 4,
) -> list[dict[str, float | int]]:
    """RLIPP of every term with children.

    ``states`` [N neurons, n samples]; term t owns rows ``offsets[t]:offsets[t+1]``;
    ``children[t]`` its child terms. Returns one dict per term with children.
    """
    rows = []
    for t, ch in enumerate(children):
        if len(ch) == 0:
            continue
        parent = states[offsets[t] : offsets[t + 1]].T
        kids = np.concatenate([states[offsets[c] : offsets[c + 1]] for c in ch], 0).T
        rp = _rho(ridge_cv_predict(pca(parent, k), target), target)
        rc = _rho(ridge_cv_predict(pca(kids, k), target), target)
        ratio = rp / rc if rc != 0 else float("nan")
        rows.append(
            {
                "term": t,
                "parent_rho": rp,
                "children_rho": rc,
                "rlipp_ratio": ratio,
                "rlipp": (rp - rc) / rc if rc != 0 else float("nan"),
            }
        )
    return rows
