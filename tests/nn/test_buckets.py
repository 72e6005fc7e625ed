"""``plan_buckets``: a partition of the stratum's terms, at most as costly as the fixed plan
under the cost model, merging equal shapes and keeping very different ones apart; on the real
2017 GO, a cheaper layout (by the model) than the fixed cells, with the same parameters."""

from __future__ import annotations

import numpy as np
import pytest

from dcellx.nn.buckets import BucketCost, plan_buckets
from dcellx.nn.config import make_config
from dcellx.nn.layout import ModelLayout


def _cost(groups, fan, width, cost: BucketCost) -> float:
    return sum(float(cost(len(g), width[g].max(), max(int(fan[g].max()), 1))) for g in groups)


def test_equal_shapes_share_a_bucket_and_far_ones_do_not() -> None:
    fan = np.array([60] * 30 + [5000, 5])
    width = np.array([20] * 30 + [20, 1500])
    groups = plan_buckets(fan, width, BucketCost())
    assert sorted(np.concatenate(groups).tolist()) == list(range(32))
    (same,) = [g for g in groups if 0 in g]
    assert same.tolist() == list(range(30))
    assert not any(30 in g and 31 in g for g in groups)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_plan_is_no_worse_than_fixed_cells(seed: int) -> None:
    rng = np.random.default_rng(seed)
    fan = rng.integers(0, 3000, 200)
    width = np.maximum(20, (rng.pareto(1.5, 200) * 20).astype(int))
    cost = BucketCost()
    groups = plan_buckets(fan, width, cost)
    assert sorted(np.concatenate(groups).tolist()) == list(range(200))
    kf = np.floor(np.log(np.maximum(fan, 1)) / np.log(1.3))
    ko = np.floor(np.log(width) / np.log(1.3))
    cells: dict = {}
    for i in range(200):
        cells.setdefault((kf[i], ko[i]), []).append(i)
    fixed = [np.array(v) for v in cells.values()]
    assert _cost(groups, fan, width, cost) <= _cost(fixed, fan, width, cost) + 1e-12


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["paper", "torchcell"])
def test_2017_layouts_under_both_plans(onto_2017, preset: str) -> None:
    cfg = make_config(preset)
    model_plan, fixed = ModelLayout(onto_2017, cfg), ModelLayout(onto_2017, cfg, 1.3)
    for L in (model_plan, fixed):
        terms = np.concatenate([b.terms for p in L.strata for b in p.buckets])
        assert sorted(terms.tolist()) == list(range(onto_2017.num_terms))
    assert model_plan.num_parameters() == fixed.num_parameters()
    cost = BucketCost()
    price = lambda L: sum(  # noqa: E731
        float(cost(len(b.terms), b.out_pad, b.fan_pad)) for p in L.strata for b in p.buckets
    )
    assert price(model_plan) < price(fixed)
