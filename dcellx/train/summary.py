"""``summary.json``: how a finished run went, in one flat record (best/final Pearson in both BN
modes, epochs to 0.9, time); ``compare`` tabulates these across a sweep."""

from __future__ import annotations

import math
from typing import Any

from dcellx.train.checkpoint import LoopState
from dcellx.train.config import RunConfig

THRESHOLD = 0.9  # first epoch whose Pearson reaches this


def stop_rule(cfg: RunConfig) -> str:
    if cfg.mode == "train":
        return f"validation loss: no improvement for {cfg.early_stopping_patience} epochs"
    return f"train-mode Pearson >= {cfg.fit_stop_pearson} for {cfg.fit_stop_epochs} epochs"


def _status(cfg: RunConfig, state: LoopState) -> tuple[str, str | None]:
    """Why the run stopped: early stopping, ``max_steps`` before the planned epochs' end, or
    the epochs all done."""
    if state.stopped_early:
        return "stopped_early", stop_rule(cfg)
    if state.max_steps_reached:
        return "max_steps", f"max_steps: {cfg.max_steps} optimiser steps"
    return "completed", None


def _first_reaching(rows: list[dict], key: str, threshold: float) -> int | None:
    for r in rows:
        v = r.get(key)
        if v is not None and v >= threshold:
            return int(r["epoch"])
    return None


def _max(rows: list[dict], key: str) -> float | None:
    vals = [r[key] for r in rows if r.get(key) is not None and math.isfinite(r[key])]
    return max(vals) if vals else None


def summarize(rows: list[dict], cfg: RunConfig, state: LoopState, params: int) -> dict[str, Any]:
    """The summary of a run that logged ``rows`` and ended in ``state``."""
    last = rows[-1] if rows else {}
    seconds = float(last.get("seconds") or 0.0)
    status, rule = _status(cfg, state)
    out = {
        "status": status,
        "stop_rule": rule,
        "mode": cfg.mode,
        "variant": cfg.variant,
        "seed": cfg.seed,
        "epochs": int(last.get("epoch", 0)),
        "epochs_planned": cfg.epochs,
        "steps": state.steps,
        "max_steps": cfg.max_steps,
        "best_pearson_eval_bn": state.best_pearson if state.best_epoch else None,
        "best_epoch": state.best_epoch or None,
        "best_pearson_train_bn": _max(rows, "pearson_train_bn"),
        "final_pearson_train_bn": last.get("pearson_train_bn"),
        "final_pearson_eval_bn": last.get("pearson_eval_bn"),
        "final_spearman_train_bn": last.get("spearman_train_bn"),
        "final_spearman_eval_bn": last.get("spearman_eval_bn"),
        "final_loss_total": last.get("loss_total"),
        "final_loss_root": last.get("loss_root"),
        f"epochs_to_{THRESHOLD}_eval_bn": _first_reaching(rows, "pearson_eval_bn", THRESHOLD),
        f"epochs_to_{THRESHOLD}_train_bn": _first_reaching(rows, "pearson_train_bn", THRESHOLD),
        "params": params,
        "seconds": round(seconds, 3),
        "seconds_per_epoch": round(seconds / len(rows), 5) if rows else None,
    }
    if cfg.mode == "train":
        out["best_val_loss"] = state.best_val_loss if math.isfinite(state.best_val_loss) else None
    return out
