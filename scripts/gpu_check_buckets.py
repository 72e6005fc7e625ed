"""What fitting the GPU bucket plan needs, measured on a device (``scripts/gpu_check.sh``): the
cost model's constants fitted there, and the candidate plans' training steps side by side.

``dcellx.nn.buckets.GPU_COST`` (plan ``gpu-v0``) is a prior from first principles; this prints,
as one JSON object:

1. ``fitted``: ``BucketCost`` fitted on the device as ``benchmarks/bench_buckets.py`` fits it on
   CPU: the three products of a bucket (forward, weight gradient, input gradient) over a grid of
   (terms T, padded width o, padded fan-in f) at the nominal batch, non-negative least squares on
   relative error to ``k0 + k1 T + k2 T o f B`` (k0 doubled: the heads' three calls are priced
   like the products'), and ``k3`` from the fused engine's per-row passes; each timed on the
   device (``dcellx.bench.timing``: CUDA events on a GPU, launch gaps included);
2. ``steps``: seconds per fused-engine training step (Adam, fused) under each candidate plan,
   with its bucket count and padded / useful multiply-adds: cost-v1 (CPU-fitted), ratio-1.3,
   gpu-v0, gpu-v0 with a launch 4x cheaper (as under a CUDA graph) and 4x dearer, and the
   constants fitted in step 1.

    python scripts/gpu_check_buckets.py --device cuda [--tiny]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import nnls

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dcellx.batch import encode_genotypes, make_batch  # noqa: E402
from dcellx.bench.run import _train_step  # noqa: E402
from dcellx.bench.timing import time_steps  # noqa: E402
from dcellx.data.datasets import load_dataset  # noqa: E402
from dcellx.data.universe import load_ontology_with_datasets  # noqa: E402
from dcellx.nn.buckets import GPU_COST, PLANS, BucketCost  # noqa: E402
from dcellx.nn.config import make_config  # noqa: E402
from dcellx.nn.dcell import DCell  # noqa: E402
from dcellx.nn.init import init_term_state  # noqa: E402
from dcellx.nn.layout import ModelLayout  # noqa: E402


def fit_cost(dev: torch.device, B: int, tiny: bool) -> tuple[BucketCost, float]:
    """(constants fitted on ``dev``, median relative error of the bmm fit)."""
    grid = ((1, 4, 16, 64, 256), (4, 20, 60, 200, 600), (20, 100, 500, 2500))
    Ts, os_, fs = ((1, 4), (4, 20), (20, 100)) if tiny else grid
    rows, y = [], []
    for T in Ts:
        for o in os_:
            for f in fs:
                if T * o * f > 6e7:
                    continue
                W, X, G = (torch.randn(*s, device=dev) for s in ((T, o, f), (T, f, B), (T, o, B)))

                def three(W=W, X=X, G=G) -> None:
                    torch.bmm(W, X)
                    torch.bmm(G, X.transpose(1, 2))
                    torch.bmm(W.transpose(1, 2), G)

                three()
                rows.append([1.0, T, T * o * f * B])
                y.append(min(time_steps(three, 5, dev) for _ in range(3)))
    A, t = np.array(rows), np.array(y)
    k, _ = nnls(A / t[:, None], np.ones(len(t)))
    err = float(np.median(np.abs(A @ k / t - 1)))
    R = 2000 if tiny else 100_000
    Z, H, D = (torch.randn(R, B, device=dev) for _ in range(3))
    idx = torch.randint(0, R, (R,), device=dev)

    def passes() -> None:  # the fused engine's per-row passes, forward and backward
        Z.tanh_()
        torch.sub(Z, Z.mean(1, keepdim=True), out=H)
        torch.addcmul(Z, H, Z, out=H)
        torch.ops.aten.tanh_backward.grad_input(D, Z, grad_input=H)
        torch.addcmul(Z, D, H, out=D)
        D.sum(1)
        torch.index_select(Z, 0, idx, out=H)
        D.index_add_(0, idx, H)

    passes()
    k3 = min(time_steps(passes, 5, dev) for _ in range(3)) / (R * B)
    fitted = BucketCost(k0=2 * float(k[0]), k1=float(k[1]), k2=float(k[2]), k3=k3, batch=B)
    return fitted, err


def plan_steps(dev: torch.device, go: str, preset: str, B: int, plans: dict, n: int) -> dict:
    """Per plan: seconds a training step, buckets, padded / useful multiply-adds."""
    onto = load_ontology_with_datasets(go)
    cfg = make_config(preset)
    enc = encode_genotypes(load_dataset("dcell-dna-repair")["train"], onto, unknown="ignore")
    batch = make_batch(enc, np.arange(B) % len(enc)).to(dev)
    out = {}
    for name, plan in plans.items():
        layout = ModelLayout(onto, cfg, plan)
        model = DCell(onto, cfg, layout).to(dev)
        model.load_term_state_dict(init_term_state(layout, seed=0))
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
        step = _train_step(model, opt, batch, batch.y[:, 0], cfg)
        step()
        step()
        useful = int(((layout.child_in + layout.extra_width) * layout.width).sum())
        out[name] = {
            "step_s": min(time_steps(step, n, dev) for _ in range(2)),
            "buckets": sum(len(p.buckets) for p in layout.strata),
            "padded": round(layout.padded_dense_params() / max(1, useful), 3),
        }
        del step, model, opt
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true", help="a small grid on dna-repair (plumbing)")
    args = ap.parse_args()
    dev = torch.device(args.device)
    torch.manual_seed(0)
    B = 16 if args.tiny else GPU_COST.batch
    fitted, err = fit_cost(dev, B, args.tiny)
    plans = {
        "cost-v1": PLANS["cost-v1"],
        "ratio-1.3": PLANS["ratio-1.3"],
        "gpu-v0": GPU_COST,
        "gpu-v0, k0 / 4": replace(GPU_COST, k0=GPU_COST.k0 / 4),
        "gpu-v0, k0 x 4": replace(GPU_COST, k0=GPU_COST.k0 * 4),
        "fitted now": fitted,
    }
    go = "dna-repair" if args.tiny else "2017"
    res: dict = {"device": str(dev), "batch": B, "fitted": asdict(fitted)}
    res["bmm_fit_median_rel_err"] = round(err, 4)
    res["steps"] = {
        f"{preset} b{B}": plan_steps(dev, go, preset, B, plans, 3 if args.tiny else 10)
        for preset in ("paper", "torchcell")
    }
    print(json.dumps(res))


if __name__ == "__main__":
    main()
