"""Scoring: eval-mode predictions of a split, a finished run's metrics, and one epoch's row."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from dcellx.train.data import RunData, Split
from dcellx.train.metrics import pearson, regression_metrics
from dcellx.train.metrics import spearman as spearman_r
from dcellx.train.world import Losses

EVAL_BATCH = 512  # rows per no-grad forward when scoring a split


@torch.no_grad()
def predict_split(model: nn.Module, split: Split, rows: np.ndarray, device: torch.device):
    """Eval-mode root predictions (normalised units) for ``rows`` of ``split``, float64."""
    model.eval()
    out = []
    for i in range(0, len(rows), EVAL_BATCH):
        root, _ = model(split.batch(rows[i : i + EVAL_BATCH]).to(device))
        out.append(root.double().cpu())
    return torch.cat(out).numpy() if out else np.zeros(0)


def score_splits(model: nn.Module, data: RunData, device: torch.device) -> dict[str, dict]:
    """Pearson, Spearman, MSE, R^2 (original units, eval mode) on every split of ``data``."""
    out = {}
    for name, split in data.parts().items():
        pred = data.labels.inverse(predict_split(model, split, split.rows, device))
        out[name] = regression_metrics(pred, split.raw[split.rows])
    return out


def epoch_row(
    losses: Losses,
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
