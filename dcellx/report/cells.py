"""Seed statistics of sweep cells: what every users'-setting table prints, written once."""

from __future__ import annotations

import csv
from typing import Any

import numpy as np

from dcellx.diagnose.run_stats import run_diagnostics
from dcellx.fileio import read_text, write_csv
from dcellx.train.compare import SweepResult


def _stats(values: list[float | None]) -> dict[str, float | None]:
    """Seed statistics over the defined values; ``undefined`` counts seeds whose value is None or
    NaN (a Pearson of constant predictions: the model collapsed)."""
    v = [x for x in values if x is not None and np.isfinite(x)]
    out: dict[str, Any] = {"n": len(v), "undefined": len(values) - len(v)}
    if not v:
        return {**out, "mean": None, "sd": None, "min": None, "max": None}
    sd = float(np.std(v, ddof=1)) if len(v) > 1 else None
    return {**out, "mean": float(np.mean(v)), "sd": sd, "min": min(v), "max": max(v)}


METRICS = (
    "final_pearson_train_bn",
    "best_pearson_train_bn",
    "final_pearson_eval_bn",
    "best_pearson_eval_bn",
    "epochs",
)


# train mode (Table U6): the test split's scores, the best validation score, epochs to the stop
TEST_METRICS = ("test_pearson", "test_spearman", "best_pearson_eval_bn", "epochs")


def cells(
    result: SweepResult, keys: list[str], metrics: tuple[str, ...] = METRICS
) -> list[dict[str, Any]]:
    """One row per grid cell (variant + ``keys``): seed statistics of every metric."""
    groups: dict[tuple, list[dict]] = {}
    for r in result.runs:
        groups.setdefault((r["variant"], *(r.get(k) for k in keys)), []).append(r)
    out = []
    for key, members in groups.items():
        row: dict[str, Any] = {"variant": key[0], **dict(zip(keys, key[1:], strict=True))}
        row["seeds"] = len(members)
        row["stopped_early"] = sum(m.get("status") == "stopped_early" for m in members)
        for m in metrics:
            row[m] = _stats([_num(x.get(m)) for x in members])
        out.append(row)
    return out


def cells_from_values(
    variant: str, final_train: list[float], final_eval: list[float], epochs: list[float]
) -> dict[str, Any]:
    """A cell from per-seed values (best = final): how tests build tables the answer reads."""
    row: dict[str, Any] = {"variant": variant, "seeds": len(final_train), "stopped_early": 0}
    row["final_pearson_train_bn"] = row["best_pearson_train_bn"] = _stats(final_train)
    row["final_pearson_eval_bn"] = row["best_pearson_eval_bn"] = _stats(final_eval)
    row["epochs"] = _stats(epochs)
    return row


def _num(x: Any) -> float | None:
    try:
        return None if x is None or x == "" else float(x)
    except (TypeError, ValueError):
        return None


def fmt(s: dict[str, Any], digits: int = 3) -> str:
    """``mean ± sd [min, max]`` of a seed statistic, and how many seeds were undefined."""
    und = s.get("undefined", 0)
    tail = f" ({und} undefined: constant prediction)" if und else ""
    if s["mean"] is None:
        return "undefined" + tail if und else "–"
    out = f"{s['mean']:.{digits}f}"
    if s["sd"] is not None:
        out += f" ± {s['sd']:.{digits}f} [{s['min']:.{digits}f}, {s['max']:.{digits}f}]"
    return out + tail


SATURATION = "saturation.csv"


def saturation_by_cell(
    result: SweepResult, keys: list[str], write: bool = True
) -> dict[str, dict[str, Any]]:
    """Per grid cell (``keys``' values, as text): seed statistics of the share of tanh units
    saturated (|tanh| > 0.99) over every stratum, on each run's best weights and its batch
    (``dcellx diagnose --run``). Measured from the run directories where they exist and written
    to ``SATURATION`` in the sweep directory; read back from that file where the runs are gone
    or are the ones it already measured (a report run again does not measure them again)."""
    path = result.sweep_dir / SATURATION
    rows: list[dict[str, Any]] = []
    if path.exists():
        rows = list(csv.DictReader(read_text(path).splitlines()))
    runs = [r for r in result.runs if (result.sweep_dir / str(r["run_id"])).is_dir()]
    measured = {str(row["run_id"]) for row in rows}
    if write and runs and measured != {str(r["run_id"]) for r in runs}:  # new runs: measure again
        rows = []
        for r in runs:
            strata = run_diagnostics(result.sweep_dir / str(r["run_id"]))["strata"]
            n = sum(s["neurons"] for s in strata)
            share = sum(s["saturated_fraction"] * s["neurons"] for s in strata) / n
            rows.append({"run_id": r["run_id"], "seed": r["seed"],
                         **{k: r.get(k) for k in keys}, "saturated_share": share})  # fmt: skip
        write_csv(path, rows, ["run_id", "seed", *keys, "saturated_share"])
    cells_: dict[str, list[float | None]] = {}
    for row in rows:
        key = ",".join(str(float(row[k])) for k in keys)
        cells_.setdefault(key, []).append(_num(row["saturated_share"]))
    return {k: _stats(v) for k, v in cells_.items()}


# -- reading cells, for the sentences generated from them -------------------------------------
AT_CEILING = 0.02  # a fit within this of its identifiability ceiling is "at the ceiling"
FITS = 0.99  # seed-mean train-mode r counted as fitting the batch


def seed_mean(cell: dict[str, Any], key: str = "final_pearson_train_bn") -> float | None:
    return cell[key]["mean"]


def seed_range(cell: dict[str, Any], key: str = "final_pearson_train_bn") -> str:
    s = cell[key]
    if s["mean"] is None:
        return "–"
    if s["sd"] is None:
        return f"{s['mean']:.3f}"
    return f"{s['mean']:.3f} ± {s['sd']:.3f} (seeds {s['min']:.3f}–{s['max']:.3f})"


def find_cell(cells: list[dict[str, Any]], **key: Any) -> dict[str, Any] | None:
    for c in cells:
        if all(c.get(k) == v for k, v in key.items()):
            return c
    return None


def at_ceiling(c: dict[str, Any]) -> bool:
    m, ceil = seed_mean(c), c.get("ceiling_pearson")
    return m is not None and ceil is not None and abs(m - ceil) <= AT_CEILING


def separated(a: dict[str, Any], b: dict[str, Any], key: str = "final_pearson_train_bn") -> bool:
    """Seed ranges of ``key`` (train-mode r) do not overlap, a above b; one seed has no range to
    compare."""
    sa, sb = a[key], b[key]
    if sa["mean"] is None or sb["mean"] is None:
        return False
    if sa["n"] < 2 or sb["n"] < 2:
        return False
    return sa["min"] > sb["max"]
