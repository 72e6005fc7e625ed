"""Fit ``dcellx.nn.buckets.BucketCost`` to this machine, and compare bucket plans end to end.

1. ``bmm`` timings: the three products of a bucket (forward, weight gradient, input gradient)
   over a grid of (terms T, padded width o, padded fan-in f) at the nominal batch, fitted by
   non-negative least squares on relative error to ``k0 + k1 T + k2 T o f B`` (k0 per bucket,
   here the three products' calls; the heads' three calls are priced like them, so k0 is
   doubled), and the elementwise cost ``k3`` per padded row element from the fused engine's
   per-row passes (tanh, BatchNorm forward and backward, heads, the gather and its index-add).
2. Training steps of the fused engine (``dcellx bench``'s step) under the former fixed plan
   (ratio 1.3) and the cost-model plan, ``--go 2017``, per preset and batch size.

    OMP_NUM_THREADS=2 python benchmarks/bench_buckets.py [--presets paper torchcell] [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from rich.console import Console
from rich.table import Table
from scipy.optimize import nnls

from dcellx.batch import encode_genotypes, make_batch
from dcellx.bench.run import _time_steps, _train_step
from dcellx.data.datasets import load_dataset
from dcellx.data.universe import load_ontology_with_datasets
from dcellx.nn.buckets import BucketCost
from dcellx.nn.config import make_config
from dcellx.nn.dcell import DCell
from dcellx.nn.init import init_term_state
from dcellx.nn.layout import ModelLayout

B0 = BucketCost().batch


def _best(f, reps: int = 5) -> float:
    f()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


def fit_cost() -> tuple[BucketCost, float]:
    """(fitted cost, median relative error of the bmm fit)."""
    rows, y = [], []
    for T in (1, 4, 16, 64):
        for o in (20, 60, 200, 600):
            for f in (20, 100, 500, 2500):
                if T * o * f > 3e7:
                    continue
                W, X, G = torch.randn(T, o, f), torch.randn(T, f, B0), torch.randn(T, o, B0)

                def three(W=W, X=X, G=G) -> None:
                    torch.bmm(W, X)
                    torch.bmm(G, X.transpose(1, 2))
                    torch.bmm(W.transpose(1, 2), G)

                t = _best(three)
                rows.append([1.0, T, T * o * f * B0])
                y.append(t)
    A, y = np.array(rows), np.array(y)
    k, _ = nnls(A / y[:, None], np.ones(len(y)))  # relative error
    err = float(np.median(np.abs(A @ k / y - 1)))
    # elementwise: the fused engine's passes over R rows of B (forward and backward)
    R = 20000
    Z, H, D = (torch.randn(R, B0) for _ in range(3))
    rows_ = torch.randint(0, R, (R,))

    def passes() -> None:
        Z.tanh_()
        torch.sub(Z, Z.mean(1, keepdim=True), out=H)
        torch.bmm(H.view(R, 1, B0), H.view(R, B0, 1))
        torch.addcmul(Z, H, Z, out=H)
        torch.bmm(H.view(R // 20, 1, 20 * B0)[:, :, : 20 * B0], D.view(R // 20, 20 * B0, 1))
        torch.ops.aten.tanh_backward.grad_input(D, Z, grad_input=H)
        torch.addcmul(Z, D, H, out=D)
        D.sum(1)
        torch.index_select(Z, 0, rows_, out=H)
        D.index_add_(0, rows_, H)

    k3 = _best(passes) / (R * B0)
    return BucketCost(k0=2 * k[0], k1=k[1], k2=k[2], k3=k3, batch=B0), err


def plan_steps(preset: str, batch: int, plans: dict[str, object]) -> dict[str, dict]:
    onto = load_ontology_with_datasets("2017")
    cfg = make_config(preset)
    enc = encode_genotypes(load_dataset("dcell-dna-repair")["train"], onto, unknown="ignore")
    b = make_batch(enc, np.arange(batch) % len(enc))
    out: dict[str, dict] = {}
    for _ in range(2):  # interleaved rounds, the best of each plan (the first model built
        for name, plan in plans.items():  # in a process also pays for fresh memory)
            layout = ModelLayout(onto, cfg, plan)
            model = DCell(onto, cfg, layout)
            model.load_term_state_dict(init_term_state(layout, seed=0))
            opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
            step = _train_step(model, opt, b, b.y[:, 0], cfg)
            step()
            step()
            t = _time_steps(step, 5)
            n_buckets = sum(len(p.buckets) for p in layout.strata)
            useful = int(((layout.child_in + layout.extra_width) * layout.width).sum())
            pad = layout.padded_dense_params() / max(1, useful)
            old = out.get(name, {}).get("step_s", float("inf"))
            out[name] = {"step_s": min(t, old), "buckets": n_buckets, "padded": pad}
            del step, model, opt
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--presets", nargs="+", default=["paper", "torchcell"])
    ap.add_argument("--batch-sizes", nargs="+", type=int, default=[32, 256])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    fitted, err = fit_cost()
    plans = {
        "fixed ratio 1.3": 1.3,
        "cost model (defaults)": BucketCost(),
        "cost model (fitted now)": fitted,
    }
    res = {"fitted": fitted.__dict__, "bmm_fit_median_rel_err": err, "steps": {}}
    for preset in args.presets:
        for B in args.batch_sizes:
            res["steps"][f"{preset} b{B}"] = plan_steps(preset, B, plans)
    if args.json:
        print(json.dumps(res, indent=2))
        return
    con = Console()
    con.print(f"fitted: {fitted} (bmm fit: median relative error {err:.1%})")
    table = Table(title="training step of the fused engine by bucket plan (--go 2017)")
    for col in ("run", "plan", "buckets", "padded / useful MACs", "step s"):
        table.add_column(col, justify="left" if col in ("run", "plan") else "right")
    for run, by in res["steps"].items():
        for name, r in by.items():
            row = (str(r["buckets"]), f"{r['padded']:.3f}", f"{r['step_s']:.4f}")
            table.add_row(run, name, *row)
    con.print(table)


if __name__ == "__main__":
    main()
