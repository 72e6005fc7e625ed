"""Diagnostics of a trained run: saturation, BatchNorm train/eval gap, gradients, RLIPP.

The BatchNorm gap is what separates the two Pearsons an overfit run reports: in train mode each
stratum is normalised with the batch's own statistics, in eval mode with running averages. Per
stratum we report the mean over neurons of |mu_batch - mu_running| / sigma_running and of
|log(var_batch / var_running)|; both are 0 when the two modes compute the same function.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from dcellx.diagnose.rlipp import rlipp
from dcellx.errors import ConfigError
from dcellx.fileio import write_csv
from dcellx.nn.dcell import DCell
from dcellx.nn.loss import dcell_loss
from dcellx.train.config import load_run_config
from dcellx.train.context import check_device
from dcellx.train.data import load_run_data
from dcellx.train.models import build_model
from dcellx.train.predict import load_weights
from dcellx.train.rundir import read_json


def load_run(run_dir: str | Path, which: str = "best", device: str = "cpu"):
    """(RunConfig, RunData, model with the run's weights on ``device``) of a finished run."""
    run_dir = Path(run_dir)
    dev = check_device(device)  # before anything is loaded
    cfg = load_run_config(read_json(run_dir / "config.json")["run"])
    data = load_run_data(cfg)
    state = load_weights(run_dir, which)
    if data.onto.content_hash != state["ontology_hash"]:
        raise ConfigError(f"{run_dir}: the ontology no longer compiles to the run's hash")
    model = build_model(
        data.onto, cfg.model, cfg.variant, cfg.seed, engine=cfg.engine, buckets=cfg.buckets
    )
    model.load_term_state_dict(state["model"])
    if not isinstance(model, DCell):
        raise ConfigError(f"{run_dir}: diagnostics need a DCell variant, not {cfg.variant!r}")
    return cfg, data, model.to(dev)


def _device_of(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def run_diagnostics(
    run_dir: str | Path, which: str = "best", max_samples: int = 512, device: str = "cpu"
) -> dict:
    """Per-stratum saturation, BN statistic gap and weight-gradient norms on the run's batch,
    computed on ``device``."""
    cfg, data, model = load_run(run_dir, which, device)
    rows = data.train.rows[:max_samples]
    batch = data.train.batch(rows).to(_device_of(model))
    cfg_m = model.cfg
    model.trace = []
    model.train()
    # a copy of the running statistics: a train-mode forward would update them
    saved = (model.running_mean.clone(), model.running_var.clone(), model.norm_steps.clone())
    root, aux = model(batch)
    loss = dcell_loss(root, aux, batch.y, cfg_m).total
    model.zero_grad()
    loss.backward()
    grads = model.stratum_weight_grad_norms()
    model.running_mean.copy_(saved[0])
    model.running_var.copy_(saved[1])
    model.norm_steps.copy_(saved[2])
    strata = []
    for s, layer, z, pre, _h in model.trace:
        if layer != 0:
            continue
        n0, n1 = model.layout.strata[s].neurons
        tanh_out = pre if cfg_m.block == "linear-tanh-norm" else torch.tanh(pre)
        row: dict[str, Any] = {
            "stratum": s,
            "neurons": n1 - n0,
            "saturated_fraction": float((tanh_out.abs() > 0.99).float().mean()),
            "grad_norm": grads[s],
        }
        if cfg_m.norm in ("batch", "batch-frozen"):
            x = pre if cfg_m.block == "linear-tanh-norm" else z
            mu_b, var_b = x.mean(1), x.var(1, unbiased=False)
            mu_r, var_r = model.running_mean[0, n0:n1], model.running_var[0, n0:n1]
            eps = cfg_m.bn_eps
            row["bn_mean_gap"] = float(((mu_b - mu_r).abs() / torch.sqrt(var_r + eps)).mean())
            row["bn_logvar_gap"] = float(torch.log((var_b + eps) / (var_r + eps)).abs().mean())
            row["constant_neurons"] = float((var_b < 1e-12).float().mean())
        strata.append(row)
    model.trace = None
    return {"run": str(run_dir), "samples": len(rows), "strata": strata}


def run_rlipp(
    run_dir: str | Path,
    target: str = "prediction",
    which: str = "best",
    max_samples: int = 2000,
    device: str = "cpu",
) -> list[dict]:
    """RLIPP per term on the run's training genotypes (eval-mode states, the forward on
    ``device``; the regressions on the CPU)."""
    cfg, data, model = load_run(run_dir, which, device)
    rows = data.train.rows[:max_samples]
    batch = data.train.batch(rows)
    model.eval()
    model.keep_states = True
    with torch.no_grad():
        pred, _ = model(batch.to(_device_of(model)))
    states = model.last_states.cpu().numpy()
    y = pred.cpu().numpy() if target == "prediction" else batch.y.numpy()
    onto, layout = data.onto, model.layout
    children = [onto.children(t) for t in range(onto.num_terms)]
    out = rlipp(states, layout.offset, children, np.asarray(y, dtype=np.float64))
    for r in out:
        t = r["term"]
        r["term"], r["name"] = onto.term_ids[t], onto.term_names[t]
    return out


RLIPP_COLUMNS = ["term", "name", "parent_rho", "children_rho", "rlipp_ratio", "rlipp"]


def write_rlipp(
    run_dir: str | Path, target: str = "prediction", device: str = "cpu"
) -> tuple[list[dict], Path]:
    """``run_rlipp``, written to ``<run>/rlipp.csv`` (atomically); returns (rows, the csv path).
    ``target``: ``prediction`` (NeST-VNN's RLIPP) or ``phenotype``."""
    if target not in ("prediction", "phenotype"):
        raise ConfigError(f"--target must be prediction or phenotype, not {target!r}")
    rows = run_rlipp(run_dir, target, device=device)
    path = Path(run_dir) / "rlipp.csv"
    write_csv(path, rows, RLIPP_COLUMNS, lineterminator="\r\n")  # csv's default, as before
    return rows, path
