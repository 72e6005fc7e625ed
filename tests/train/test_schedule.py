"""LR schedulers really change the rate the optimiser uses; early stopping stops; test metrics."""

from __future__ import annotations

import json

from dcellx.data.datasets import load_genotypes
from dcellx.train import make_run_config, run
from dcellx.train.metrics import TRAIN_COLUMNS, read_metrics


def _train(tmp_path, small_data, **kw):
    cfg = make_run_config(
        mode="train", go="dna-repair", data=str(small_data), runs_dir=str(tmp_path), threads=1,
        quiet=True, keep_checkpoints="best", **kw,
    )  # fmt: skip
    return run(cfg)


def test_plateau_steps_on_validation_loss_and_lowers_lr(tmp_path, small_data) -> None:
    # lr 0.05 makes the validation loss bounce, so patience 0 must trigger reductions
    res = _train(
        tmp_path, small_data, epochs=12, lr=0.05, scheduler="plateau",
        sets={"plateau_patience": 0, "plateau_factor": 0.5, "min_lr": 1e-5},
    )  # fmt: skip
    rows = read_metrics(res.run_dir)
    assert list(rows[0]) == list(TRAIN_COLUMNS)
    lrs = [r["lr"] for r in rows]
    assert lrs[0] == 0.05 and min(lrs) < 0.05 and lrs == sorted(lrs, reverse=True)
    # every reduction follows an epoch whose validation loss did not improve on the best so far
    best = float("inf")
    for prev, nxt in zip(rows, rows[1:], strict=False):
        improved = prev["val_loss"] < best * (1 - 1e-4)
        best = min(best, prev["val_loss"])
        assert (nxt["lr"] < prev["lr"]) == (not improved and prev["lr"] > 1e-5)


def test_cosine_and_test_metrics(tmp_path, small_data, small_test_data) -> None:
    res = _train(
        tmp_path, small_data, epochs=4, scheduler="cosine", min_lr=0.0,
        test_data=str(small_test_data),
    )  # fmt: skip
    lrs = [r["lr"] for r in read_metrics(res.run_dir)]
    assert lrs[0] == 1e-3 and all(a > b for a, b in zip(lrs, lrs[1:], strict=False))
    s = json.loads((res.run_dir / "summary.json").read_text())
    assert s["test_n"] == 300
    # scored in original units: R^2 and MSE agree with the raw test labels' variance
    y = load_genotypes(small_test_data).values[:, 0]
    assert abs(s["test_r2"] - (1 - s["test_mse"] / y.var())) < 1e-9
    for k in ("test_pearson", "test_spearman", "test_mse", "test_r2", "best_val_loss"):
        assert isinstance(s[k], float)
    config = json.loads((res.run_dir / "config.json").read_text())
    assert config["data"]["train"] == 360 and config["data"]["val"] == 40


def test_early_stopping(tmp_path, small_data) -> None:
    res = _train(tmp_path, small_data, epochs=50, lr=0.05, early_stopping_patience=1)
    assert res.summary["status"] == "stopped_early" and res.summary["epochs"] < 50
