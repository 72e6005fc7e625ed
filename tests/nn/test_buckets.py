"""``plan_buckets``: a partition of the stratum's terms, at most as costly as the fixed plan
under the cost model, merging equal shapes and keeping very different ones apart; on the real
2017 GO, a cheaper layout (by the model) than the fixed cells, with the same parameters; the GPU
plan (not yet fitted on a GPU) as the device's default, with fewer, larger buckets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dcellx.batch import encode_genotypes, make_batch
from dcellx.data.datasets import load_dataset
from dcellx.data.universe import load_ontology_with_datasets
from dcellx.nn.buckets import GPU_COST, PLANS, BucketCost, default_plan, plan_buckets
from dcellx.nn.config import make_config
from dcellx.nn.dcell import DCell
from dcellx.nn.init import init_term_state
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


def test_the_device_picks_the_plan() -> None:
    assert default_plan("cuda") == default_plan("cuda:1") == "gpu-v0"
    assert default_plan("cpu") == default_plan("mps") == "cost-v1"
    assert PLANS["gpu-v0"] is GPU_COST and PLANS["cost-v1"] == BucketCost()


@pytest.mark.parametrize("preset", ["paper", "torchcell"])
def test_the_gpu_plan_is_fewer_larger_buckets(preset: str) -> None:
    """On the shipped 2017 build: a launch is worth far more padding on a GPU, so its plan has a
    third of the buckets or fewer, and it is cheaper than cost-v1's plan by the GPU's own model
    (and dearer by the CPU's), with the same terms and true parameters."""
    onto = load_ontology_with_datasets("2017")
    cfg = make_config(preset)
    cpu, gpu = ModelLayout(onto, cfg, PLANS["cost-v1"]), ModelLayout(onto, cfg, GPU_COST)
    for L in (cpu, gpu):
        terms = np.concatenate([b.terms for p in L.strata for b in p.buckets])
        assert sorted(terms.tolist()) == list(range(onto.num_terms))
    assert gpu.num_parameters() == cpu.num_parameters()
    n_buckets = lambda L: sum(len(p.buckets) for p in L.strata)  # noqa: E731
    assert n_buckets(gpu) * 3 <= n_buckets(cpu)
    assert gpu.padded_dense_params() > cpu.padded_dense_params()

    def price(L: ModelLayout, cost: BucketCost) -> float:
        return sum(
            float(cost(len(b.terms), b.out_pad, b.fan_pad)) for p in L.strata for b in p.buckets
        )

    assert price(gpu, GPU_COST) < price(cpu, GPU_COST)
    assert price(cpu, BucketCost()) < price(gpu, BucketCost())


def test_a_gpu_plan_model_computes_the_same_function(onto_dna) -> None:
    """The padding of the GPU plan's larger buckets is never read back: the same term-named state
    gives the same outputs and loss under both plans (float64, a training-mode step)."""
    cfg = make_config("torchcell")
    enc = encode_genotypes(load_dataset("dcell-dna-repair")["train"], onto_dna)
    batch = make_batch(enc, np.arange(64))
    state = init_term_state(ModelLayout(onto_dna, cfg), seed=0, dtype=torch.float64)
    outs = []
    for plan in ("cost-v1", "gpu-v0"):
        L = ModelLayout(onto_dna, cfg, PLANS[plan])
        model = DCell(onto_dna, cfg, L).double()
        model.load_term_state_dict(state)
        root, aux = model(batch)
        outs.append((root.detach(), aux.detach(), len([b for p in L.strata for b in p.buckets])))
    (r0, a0, n0), (r1, a1, n1) = outs
    assert n1 < n0  # the plans differ on this ontology too
    assert torch.allclose(r0, r1, rtol=0, atol=1e-12) and torch.allclose(a0, a1, rtol=0, atol=1e-12)
