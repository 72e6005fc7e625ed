"""Scoring: eval-mode predictions of a split, a finished run's metrics, and one epoch's row."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from dcellx.train.data import RunData, Split
from dcellx.train.metrics import pearson, regression_metrics
from dcellx.train.metrics import spearman as spearman_r

EVAL_BATCH = 512  # rows per no-grad forward when scoring a split
# --score-sample: each split's sample is drawn from [seed, SAMPLE_STREAM, split], a stream apart
# from the minibatch orders ([seed, epoch]), so the sample does not move with anything else
SAMPLE_STREAM = 0x5C0
SPLIT_IDS = {"train": 0, "val": 1, "test": 2}


@torch.no_grad()
def predict_split(model: nn.Module, split: Split, rows: np.ndarray, device: torch.device):
    """Eval-mode root predictions (normalised units) for ``rows`` of ``split``, float64. The
    predictions stay on the device until the split is done and come back in one copy."""
    model.eval()
    out = []
    for i in range(0, len(rows), EVAL_BATCH):
        root, _ = model(split.batch(rows[i : i + EVAL_BATCH]).to(device))
        out.append(root.double())
    return torch.cat(out).cpu().numpy() if out else np.zeros(0)


def sample_rows(rows: np.ndarray, n: int | None, seed: int, name: str) -> np.ndarray:
    """At most ``n`` of ``rows`` (split ``name``): all of them, as they are, when ``n`` is
    ``None`` or not smaller; else a sample without replacement drawn from ``seed``, sorted."""
    if n is None or len(rows) <= n:
        return rows
    rng = np.random.default_rng([seed, SAMPLE_STREAM, SPLIT_IDS.get(name, len(SPLIT_IDS))])
    return np.sort(rng.choice(rows, size=n, replace=False))


def score_rows(data: RunData, n: int | None, seed: int) -> dict[str, np.ndarray]:
    """The rows of every split of ``data`` that a run scores (``--score-sample n``), fixed for
    the run: the validation split's are scored every epoch, every split's at the end."""
    return {name: sample_rows(split.rows, n, seed, name) for name, split in data.parts().items()}


def scoring_record(data: RunData, rows: dict[str, np.ndarray], n: int | None) -> dict[str, Any]:
    """``summary.json``'s ``scoring``: per split, how many rows were scored, of how many, and
    whether they were a sample."""
    splits = {
        name: {"rows": int(len(rows[name])), "of": int(len(split.rows))}
        for name, split in data.parts().items()
    }
    for v in splits.values():
        v["sampled"] = v["rows"] < v["of"]
    return {"score_sample": n, "splits": splits}


def score_splits(
    model: nn.Module,
    data: RunData,
    device: torch.device,
    rows: dict[str, np.ndarray] | None = None,
) -> dict[str, dict]:
    """Pearson, Spearman, MSE, R^2 (original units, eval mode) on every split of ``data``, on
    ``rows[split]`` where given (``score_rows``), else on all of its rows."""
    out = {}
    for name, split in data.parts().items():
        use = split.rows if rows is None else rows.get(name, split.rows)
        pred = data.labels.inverse(predict_split(model, split, use, device))
        out[name] = regression_metrics(pred, split.raw[use])
    return out


def epoch_row(
    losses: tuple[float, float, float],
    p_train: np.ndarray,
    y_train: np.ndarray,
    p_eval: np.ndarray,
    y_eval: np.ndarray,
) -> dict[str, Any]:
    """An epoch's losses and its correlations in both BatchNorm modes (normalised units: z-scoring
    is a positive affine map, so these equal the correlations in original units)."""
    total, root_loss, aux_loss = losses
    return {
        "loss_total": total,
        "loss_root": root_loss,
        "loss_aux": aux_loss,
        "pearson_train_bn": pearson(p_train, y_train),
        "spearman_train_bn": spearman_r(p_train, y_train),
        "pearson_eval_bn": pearson(p_eval, y_eval),
        "spearman_eval_bn": spearman_r(p_eval, y_eval),
    }
