"""Runner target: `dcellx overfit --go 2017 --epochs 500` (batch 32, paper) in <= 5 min, and the
per-epoch overhead of logging and metrics (checkpoints aside) <= 5% of epoch time.

Prints JSON: wall_s (whole command incl. ontology load, model build, final checkpoint),
epoch_s (mean per epoch from metrics.csv), step_s and eval_s (the bare training step and the
eval-mode forward timed alone in the same process), overhead_fraction = (epoch - step - eval)
/ epoch, and the run's best Pearsons.

    .venv/bin/python benchmarks/bench_overfit.py [--epochs 500] [--go 2017]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("DCELLX_MIRROR", str((ROOT / "../shared/data").resolve()))


def bare_timings(go: str, threads: int, reps: int = 20) -> tuple[float, float]:
    import torch

    from dcellx.train.config import make_run_config
    from dcellx.train.data import load_run_data
    from dcellx.train.models import build_model
    from dcellx.train.world import optimiser_step

    torch.set_num_threads(threads)
    cfg = make_run_config("paper", go=go, threads=threads)
    data = load_run_data(cfg)
    model = build_model(data.onto, cfg.model, cfg.variant, cfg.seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True)
    batch = data.train.batch(data.train.rows)
    for _ in range(3):
        optimiser_step(model, opt, batch, cfg.model, cfg.model.alpha, None)
    t0 = time.perf_counter()
    for _ in range(reps):
        optimiser_step(model, opt, batch, cfg.model, cfg.model.alpha, None)
    step = (time.perf_counter() - t0) / reps
    model.eval()
    t0 = time.perf_counter()
    with torch.no_grad():
        for _ in range(reps):
            model(batch)
    return step, (time.perf_counter() - t0) / reps


def main() -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=500)
    ap.add_argument("--go", default="2017")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as runs:
        cmd = [sys.executable, "-c", "from dcellx_cli.main import main; main()", "overfit"]
        cmd += ["--go", a.go, "--epochs", str(a.epochs), "--threads", str(a.threads)]
        cmd += ["--runs-dir", runs, "--quiet"]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=ROOT)
        wall = time.perf_counter() - t0
        run_dir = next(Path(runs).iterdir())
        rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
        summary = json.loads((run_dir / "summary.json").read_text())
    secs = np.array([float(r["seconds"]) for r in rows])
    epoch = float(np.median(np.diff(secs))) if len(secs) > 2 else float(secs[-1] / len(secs))
    step, ev = bare_timings(a.go, a.threads)
    out = {
        "go": a.go,
        "epochs": a.epochs,
        "threads": a.threads,
        "wall_s": round(wall, 1),
        "epoch_s": round(epoch, 4),
        "step_s": round(step, 4),
        "eval_s": round(ev, 4),
        "overhead_fraction": round((epoch - step - ev) / epoch, 4),
        "best_pearson_eval_bn": summary.get("best_pearson_eval_bn"),
        "best_pearson_train_bn": summary.get("best_pearson_train_bn"),
    }
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
