"""``dcellx bench``: training throughput of the fast engine against the reference loop, in one
process, on the real DNA-repair genotypes, with the dense-matmul speed as the yardstick.

FLOPs counted are the model's useful multiply-adds only: 2 * in * out per term Linear per sample
(what the paper's dense model computes; padding and the sparse shortcut for gene inputs do not
change the count), forward + backward taken as 3x forward. The yardstick (``gflops_dense_matmul``)
is a 2048 x 2048 float32 product timed after every engine step, so the two share the machine's
state; ``--engine autograd --buckets ratio-1.3`` runs the engine as it was before the fused form.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from dcellx.batch import encode_genotypes, make_batch
from dcellx.bench.profile import profile_steps
from dcellx.data.datasets import load_dataset
from dcellx.data.inspect import peak_rss_mb
from dcellx.nn.buckets import PLANS
from dcellx.nn.config import ModelConfig
from dcellx.nn.dcell import DCell
from dcellx.nn.init import init_term_state
from dcellx.nn.layout import ModelLayout
from dcellx.nn.loss import dcell_loss
from dcellx.nn.ops import section
from dcellx.nn.reference import ReferenceDCell
from dcellx.ontology.compiled import CompiledOntology


def _time_with_roof(step, n: int, size: int = 2048) -> tuple[float, float]:
    """(seconds per ``step``, roof GFLOP/s), each step followed by one square product of
    ``size``: both are measured over the same minutes, so a machine whose speed drifts (a
    shared VM: the roof was seen anywhere in 116-187 GFLOP/s within one hour) moves both alike
    and their ratio stays a property of the engine."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    t_step = t_roof = 0.0
    for _ in range(n):
        t0 = time.perf_counter()
        step()
        t1 = time.perf_counter()
        a @ b
        t_roof += time.perf_counter() - t1
        t_step += t1 - t0
    return t_step / n, 2 * size**3 * n / t_roof / 1e9


def _train_step(model, opt, inputs, y: torch.Tensor, cfg: ModelConfig):
    """One Adam step of ``model`` on ``inputs`` (a batch, or the reference's dense genotypes)."""

    def step() -> None:
        root, aux = model(inputs)
        with section("loss"):
            loss = dcell_loss(root, aux, y, cfg).total
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def _time_steps(step, n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - t0) / n


def run_bench(
    onto: CompiledOntology,
    cfg: ModelConfig,
    batch_size: int = 256,
    threads: int = 2,
    steps: int = 5,
    reference_steps: int = 2,
    data: str = "dcell-dna-repair",
    with_reference: bool = True,
    profile: bool = False,
    engine: str = "fused",
    buckets: str = "cost-v1",
) -> dict:
    """Measure and return the bench JSON (see module docstring for what is counted)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    layout = ModelLayout(onto, cfg, PLANS[buckets])
    state = init_term_state(layout, seed=0)
    enc = encode_genotypes(load_dataset(data)["train"], onto, unknown="ignore")
    rows = np.arange(batch_size) % len(enc)
    t0 = time.perf_counter()
    for _ in range(20):
        batch = make_batch(enc, rows)
    batch_ms = (time.perf_counter() - t0) / 20 * 1000
    y = batch.y[:, 0]

    model = DCell(onto, cfg, layout, engine)
    model.load_term_state_dict(state)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)

    engine_step = _train_step(model, opt, batch, y, cfg)
    engine_step()  # warm-up (allocator, Adam state)
    engine_step()
    t_engine, gflops_dense = _time_with_roof(engine_step, steps)
    rss = peak_rss_mb()
    prof = profile_steps(engine_step) if profile else None
    params = model.num_parameters()
    macs = layout.useful_macs_per_sample()
    flops_step = 2 * macs * 3 * batch_size
    out = {
        "go": onto.name,
        "preset": cfg.preset,
        "variant": cfg.variant,
        "engine": model.engine.name,
        "buckets": buckets,
        "batch_size": batch_size,
        "threads": torch.get_num_threads(),
        "engine_samples_per_s": round(batch_size / t_engine, 2),
        "engine_step_s": round(t_engine, 4),
        "gflops_achieved": round(flops_step / t_engine / 1e9, 2),
        "gflops_dense_matmul": round(gflops_dense, 2),
        "mflop_per_sample_fwd": round(2 * macs / 1e6, 2),
        "peak_rss_mb": round(rss, 1),
        "params": params,
        "neurons": layout.num_neurons,
        "terms": onto.num_terms,
        "strata": onto.num_strata,
        "batch_build_ms": round(batch_ms, 4),
    }
    out["gflops_ratio"] = round(out["gflops_achieved"] / out["gflops_dense_matmul"], 3)
    if prof is not None:
        out["profile"] = _with_bmm_flops(prof, layout, batch_size)
    del engine_step, model, opt  # free the engine before building the reference
    if with_reference:
        ref = ReferenceDCell(onto, cfg, layout)
        ref.load_state_dict(state)
        ref.train()
        ropt = torch.optim.Adam(ref.parameters(), lr=1e-3, fused=True)
        x = batch.dense(onto.num_genes)
        ref_step = _train_step(ref, ropt, x, y, cfg)
        ref_step()
        t_ref = _time_steps(ref_step, reference_steps)
        out["reference_samples_per_s"] = round(batch_size / t_ref, 2)
        out["speedup"] = round(t_ref / t_engine, 2)
    else:
        out["reference_samples_per_s"] = None
        out["speedup"] = None
    return out


def _with_bmm_flops(prof: dict, layout: ModelLayout, batch_size: int) -> dict:
    """Add what the bmm kernels compute: padded FLOPs per step (forward and both backward
    products), the share of them spent on bucket padding, and their rate in the profile."""
    padded = layout.padded_dense_params()  # MACs per sample of the padded term matmuls
    dense_in = layout.child_in + layout.extra_width
    useful = int((dense_in * layout.width).sum())  # the same without padding
    flops = 2 * 3 * padded * batch_size
    ms = prof["kernels_ms"].get("bmm", 0.0)
    prof["bmm_gflop_per_step"] = round(flops / 1e9, 2)
    prof["bmm_padding_share"] = round(1 - useful / padded, 4) if padded else 0.0
    prof["bmm_gflops"] = round(flops / ms / 1e6, 1) if ms else None
    return prof
