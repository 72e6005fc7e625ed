"""``curves.png`` (one run) and ``compare.png`` (a sweep): matplotlib, Agg, written atomically."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from dcellx.train.rundir import atomic_write


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on clusters; set before pyplot is imported
    import matplotlib.pyplot as plt

    return plt


def save_png(fig, path: Path) -> None:
    """Render ``fig`` to PNG in memory, write it atomically, close it (the one figure writer)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    atomic_write(path, lambda fh: fh.write(buf.getvalue()))
    _pyplot().close(fig)


def _column(rows: list[dict[str, Any]], key: str) -> np.ndarray:
    return np.array([np.nan if r.get(key) is None else float(r[key]) for r in rows])


def draw_curves(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """Loss (log scale) and Pearson in both BatchNorm modes per epoch."""
    plt = _pyplot()
    fig, (ax_loss, ax_r) = plt.subplots(1, 2, figsize=(11, 4))
    epoch = _column(rows, "epoch")
    for key, label in (("loss_total", "total"), ("loss_root", "root"), ("loss_aux", "aux")):
        values = _column(rows, key)
        if np.nanmax(np.abs(values), initial=0) > 0:
            ax_loss.plot(epoch, values, label=label)
    if rows and "val_loss" in rows[0]:
        ax_loss.plot(epoch, _column(rows, "val_loss"), label="val (root)")
    ax_loss.set_yscale("log")
    ax_loss.set(xlabel="epoch", ylabel="loss (z-units)", title="loss")
    ax_loss.legend()
    ax_r.plot(epoch, _column(rows, "pearson_train_bn"), label="train-mode BN")
    ax_r.plot(epoch, _column(rows, "pearson_eval_bn"), label="eval-mode BN")
    ax_r.axhline(0.9, color="grey", lw=0.5, ls=":")
    ax_r.set(
        xlabel="epoch", ylabel="Pearson r", title="root prediction vs label", ylim=(-0.2, 1.02)
    )
    ax_r.legend()
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save_png(fig, path)


def draw_compare(groups: dict[str, list[list[dict[str, Any]]]], path: Path, title: str) -> None:
    """Per group (variant / grid point): mean Pearson over seeds with a min-max band, in both BN
    modes. Runs of different lengths (early stopping) are aligned on epoch and averaged where
    present."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for ax, key, name in (
        (axes[0], "pearson_train_bn", "train-mode BN"),
        (axes[1], "pearson_eval_bn", "eval-mode BN"),
    ):
        for label, runs in groups.items():
            if not runs:
                continue
            n = max(len(r) for r in runs)
            mat = np.full((len(runs), n), np.nan)
            for i, rows in enumerate(runs):
                mat[i, : len(rows)] = _column(rows, key)
            epochs = np.arange(1, n + 1)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN epochs: no value
                mean = np.nanmean(mat, 0)
                lo, hi = np.nanmin(mat, 0), np.nanmax(mat, 0)
            (line,) = ax.plot(epochs, mean, label=f"{label} (n={len(runs)})")
            ax.fill_between(epochs, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
        ax.axhline(0.9, color="grey", lw=0.5, ls=":")
        ax.set(xlabel="epoch", title=f"Pearson, {name}", ylim=(-0.2, 1.02))
    axes[0].set_ylabel("Pearson r (mean, band = min-max over seeds)")
    axes[1].legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save_png(fig, path)
