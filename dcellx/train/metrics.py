"""Per-epoch metrics: correlations of a step's predictions, and ``metrics.csv``/``metrics.jsonl``.

Metrics are computed on the B predictions a step already produced (float64 numpy, microseconds), and
each epoch appends one line to each file with a single write and flush: no fsync, no rewrite, so
logging stays a negligible fraction of an epoch even for a 32-sample overfit step.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import IO, Any

import numpy as np

from dcellx.fileio import FileWriteError, atomic_write, describe_os_error

COLUMNS: tuple[str, ...] = (
    "epoch",
    "loss_total",
    "loss_root",
    "loss_aux",
    "pearson_train_bn",
    "spearman_train_bn",
    "pearson_eval_bn",
    "spearman_eval_bn",
    "lr",
    "seconds",
)
# `train` mode: eval-BN columns are measured on the validation split; val_loss is its root MSE.
TRAIN_COLUMNS: tuple[str, ...] = (*COLUMNS, "val_loss")


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r; NaN when either side is constant (undefined, not 0)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    xc, yc = x - x.mean(), y - y.mean()
    den = math.sqrt(float(xc @ xc) * float(yc @ yc))
    return float(xc @ yc) / den if den > 0 else math.nan


def average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their mean rank (``scipy.stats.rankdata``; importing
    scipy.stats would add most of a second to every CLI start)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    order = np.argsort(x, kind="stable")
    xs = x[order]
    group = np.cumsum(np.r_[True, xs[1:] != xs[:-1]]) - 1  # tie group of each sorted value
    counts = np.bincount(group)
    mean_rank = np.cumsum(counts) - (counts - 1) / 2.0
    ranks = np.empty(len(x))
    ranks[order] = mean_rank[group]
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rho: Pearson of average ranks; NaN if either side has a NaN or is constant."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return math.nan
    return pearson(average_ranks(x), average_ranks(y))


def regression_metrics(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Pearson, Spearman, MSE and R^2 (1 - SS_res / SS_tot) in the units given."""
    pred = np.asarray(pred, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    resid = float(((pred - y) ** 2).sum())
    total = float(((y - y.mean()) ** 2).sum())
    return {
        "pearson": pearson(pred, y),
        "spearman": spearman(pred, y),
        "mse": resid / len(y),
        "r2": 1.0 - resid / total if total > 0 else math.nan,
        "n": len(y),
    }


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return repr(v)  # round-trip exact: identical runs give identical files
    return "" if v is None else str(v)


def _value(text: str) -> float | int | None:
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        return float(text)


def _json_row(row: dict[str, Any]) -> str:
    clean = {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()
    }
    return json.dumps(clean) + "\n"


class MetricsLog:
    """``metrics.csv`` + ``metrics.jsonl``, one row per epoch, also kept in memory (``rows``).

    ``resume_epoch`` (resuming) keeps only the rows up to that epoch, so rows that were logged after
    the checkpoint and will be recomputed appear once: the final files equal an uninterrupted run's.
    """

    def __init__(
        self, run_dir: Path, columns: tuple[str, ...], resume_epoch: int | None = None
    ) -> None:
        self.columns = columns
        self.csv_path = Path(run_dir) / "metrics.csv"
        self.jsonl_path = Path(run_dir) / "metrics.jsonl"
        self.rows: list[dict[str, Any]] = []
        if resume_epoch is None or not self.csv_path.exists():
            header = ",".join(columns) + "\n"
            atomic_write(self.csv_path, lambda fh: fh.write(header.encode()))
            atomic_write(self.jsonl_path, lambda fh: None)
        else:
            self._truncate(resume_epoch)
        self._csv: IO[str] = open(self.csv_path, "a", encoding="utf-8")  # noqa: SIM115
        self._jsonl: IO[str] = open(self.jsonl_path, "a", encoding="utf-8")  # noqa: SIM115

    def _truncate(self, epoch: int) -> None:
        """Keep complete rows with ``epoch <= epoch`` (a SIGKILL can leave a torn last line)."""
        lines = self.csv_path.read_text(encoding="utf-8").splitlines()
        kept = [",".join(self.columns)]
        for line in lines[1:]:
            cells = line.split(",")
            if len(cells) != len(self.columns):
                continue
            try:
                row = {c: _value(v) for c, v in zip(self.columns, cells, strict=True)}
            except ValueError:
                continue
            if row["epoch"] is not None and row["epoch"] <= epoch:
                self.rows.append(row)
                kept.append(line)
        text = "\n".join(kept) + "\n"
        atomic_write(self.csv_path, lambda fh: fh.write(text.encode()))
        jsonl = "".join(_json_row(r) for r in self.rows)
        atomic_write(self.jsonl_path, lambda fh: fh.write(jsonl.encode()))

    def append(self, row: dict[str, Any]) -> None:
        row = {c: row.get(c) for c in self.columns}
        self.rows.append(row)
        for path, fh, text in (
            (self.csv_path, self._csv, ",".join(_cell(row[c]) for c in self.columns) + "\n"),
            (self.jsonl_path, self._jsonl, _json_row(row)),
        ):
            try:  # a torn last line is dropped on resume (``_truncate``)
                fh.write(text)
                fh.flush()
            except OSError as exc:
                raise FileWriteError(f"{path}: cannot write ({describe_os_error(exc)})") from exc

    def close(self) -> None:
        self._csv.close()
        self._jsonl.close()


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The rows of a run's ``metrics.csv`` (numbers parsed; empty cells -> None)."""
    lines = (Path(run_dir) / "metrics.csv").read_text(encoding="utf-8").splitlines()
    if not lines:
        return []
    cols = lines[0].split(",")
    out = []
    for line in lines[1:]:
        cells = line.split(",")
        if len(cells) == len(cols):
            out.append({c: _value(v) for c, v in zip(cols, cells, strict=True)})
    return out
