r"""Which terms of a stratum share a padded ``bmm``: the plan with the least predicted step time.

A bucket of :math:`T` terms runs at the padded size :math:`o \times f` (its largest width and
fan-in): one kernel for all of them, but :math:`T o f - \sum_t w_t f_t` multiply-adds and
:math:`T o - \sum_t w_t` rows of padding. ``BucketCost`` prices a bucket's share of one training
step of the fused engine,

.. math::
    c(T, o, f) = k_0 + k_1 T + k_2 \, T o f B + k_3 \, T (o + f) B,

:math:`k_0` the fixed cost of a bucket (its six kernel calls a step: the product, its two
backward products and the auxiliary heads' three), :math:`k_1` the cost per matrix inside a
batched product, :math:`k_2` per multiply-add of the three products (forward, weight and input
gradients), :math:`k_3` per padded row element (the elementwise passes over output rows and the
gather and index-add over input rows), at a nominal batch :math:`B`. The constants are fitted to
this machine's measured ``bmm`` and elementwise timings (``benchmarks/bench_buckets.py``, which
also compares the plans' step times); the plan is independent of the batch a run uses, so a
model's layout, and its rounding, do not depend on it.

The constants are the plan: changing them regroups every new model's terms, and a checkpoint's
optimiser state is packed by bucket, so runs record the plan they use (``RunConfig.buckets``:
``cost-v1`` is these constants; new constants would be a new name).

``plan_buckets`` sorts the stratum's terms (by width then fan-in, and by fan-in then width) and
splits each order into contiguous groups by dynamic programming over that cost, keeping the
cheaper of the two plans.

**On a GPU** the same model holds with other constants (``GPU_COST``, plan ``gpu-v0``): a
kernel launch costs about the same 5-10 us whatever its size, while padded multiply-adds are
nearly free next to it, so the least-cost plan has far fewer, larger buckets. ``default_plan``
picks ``gpu-v0`` for a CUDA device and ``cost-v1`` otherwise; a run resolves its plan from its
device once and records the name (``RunConfig.buckets``), so resuming it elsewhere keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class BucketCost:
    """Seconds a bucket adds to a training step (module docstring); fitted on the reference
    machine (2-core AMD EPYC, torch 2.13.0 CPU, 2 threads) by ``benchmarks/bench_buckets.py``."""

    k0: float = 2.4e-5
    k1: float = 7.7e-7
    k2: float = 4.0e-11
    k3: float = 3.5e-9
    batch: int = 128

    def __call__(self, T: np.ndarray, out_pad: np.ndarray, fan_pad: np.ndarray) -> np.ndarray:
        T, o, f = (np.asarray(x, np.float64) for x in (T, out_pad, fan_pad))
        B = self.batch
        return self.k0 + self.k1 * T + self.k2 * T * o * f * B + self.k3 * T * (o + f) * B


def _split(fan: np.ndarray, width: np.ndarray, cost: BucketCost) -> tuple[float, list[slice]]:
    """Least-cost split of terms (in this order) into contiguous groups: (cost, groups)."""
    n = len(fan)
    best = np.zeros(n + 1)
    cut = np.zeros(n + 1, np.int64)
    for j in range(1, n + 1):
        # padded size of every group i..j-1: the running maxima from the right
        f = np.maximum.accumulate(fan[:j][::-1])[::-1]
        w = np.maximum.accumulate(width[:j][::-1])[::-1]
        c = best[:j] + cost(j - np.arange(j), w, np.maximum(f, 1))
        cut[j] = int(np.argmin(c))
        best[j] = c[cut[j]]
    groups, j = [], n
    while j > 0:
        groups.append(slice(int(cut[j]), j))
        j = int(cut[j])
    return float(best[n]), groups[::-1]


def plan_buckets(fan: np.ndarray, width: np.ndarray, cost: BucketCost) -> list[np.ndarray]:
    """Groups of term positions (each ascending) covering ``range(len(fan))``; ``fan`` is each
    term's dense fan-in (children's states, Lua gene-layer rows), ``width`` its output width."""
    fan, width = np.asarray(fan, np.int64), np.asarray(width, np.int64)
    best: tuple[float, list[np.ndarray]] | None = None
    for order in (np.lexsort((fan, width)), np.lexsort((width, fan))):
        total, groups = _split(fan[order], width[order], cost)
        if best is None or total < best[0]:
            best = (total, [np.sort(order[g]) for g in groups])
    assert best is not None
    return best[1]


# NOT YET FITTED ON A GPU: a prior from first principles (one H100, float32, eager launches),
# to be replaced by constants fitted on a GPU (``scripts/gpu_check.sh`` times the bmm grid and
# the candidate plans; fitted constants get a new name, ``gpu-v1``, never these changed).
#   k0 = 6 kernels a bucket a step (the product, its two backward products, the heads' three)
#        x ~7.5 us each: what launching costs on the host while the GPU waits for work;
#   k1 ~ 0: the matrices of one bmm run side by side in one launch;
#   k2 = 3 products x 1e-13 s per multiply-add (~20 TFLOP/s, a third of the H100's float32
#        peak for thin batched products) + Adam's update of a padded weight (7 float32 streams,
#        28 B at ~2.5 TB/s = 1.1e-11 s, spread over the nominal batch of 256);
#   k3 = ~10 float32 reads and writes per padded row element (the elementwise passes, gather and
#        index-add) at ~2.5 TB/s of HBM.
# Against cost-v1 a bucket's launch is worth ~600x more padded multiply-adds (k0 / (k2 B)).
GPU_COST = BucketCost(k0=4.5e-5, k1=1e-8, k2=3.4e-13, k3=1.6e-11, batch=256)

# the plans a run can record (``RunConfig.buckets``) -> ``ModelLayout``'s ``buckets`` argument
# (a cost model to minimise, or 1.3: the former fixed log-ratio cells)
PLANS: dict[str, BucketCost | float] = {
    "cost-v1": BucketCost(),
    "ratio-1.3": 1.3,
    "gpu-v0": GPU_COST,
}


def default_plan(device: str) -> str:
    """The plan a run on ``device`` gets when it names none: ``gpu-v0`` on CUDA (``"cuda"``,
    ``"cuda:1"``), ``cost-v1`` (fitted on CPU) elsewhere. Resolved once, when the run's config
    is made (``RunConfig``), and recorded; ``dcellx bench`` resolves it the same way."""
    return "gpu-v0" if str(device).split(":")[0] == "cuda" else "cost-v1"
