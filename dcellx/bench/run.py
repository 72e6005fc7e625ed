"""``dcellx bench``: training throughput of the fast engine against the reference loop, in one
process, on the real DNA-repair genotypes, with the dense-matmul speed as the yardstick.

FLOPs counted are the model's useful multiply-adds only: 2 * in * out per term Linear per sample
(what the paper's dense model computes; padding and the sparse shortcut for gene inputs do not
change the count), forward + backward taken as 3x forward. The yardstick (``gflops_dense_matmul``)
is a dense square product on the same device, in the same precision, timed after every engine
step, so the two share the machine's state (``dcellx.bench.timing``: 2048^2 float32 on CPU,
timed by the host clock; 4096^2 on a GPU, timed by CUDA events); ``--engine autograd --buckets
ratio-1.3`` runs the engine as it was before the fused form.

On a device other than the CPU the output also holds the device's name, the peak memory the
allocator handed out (``torch.cuda.max_memory_allocated`` from the model's construction on, the
GPU's share; ``peak_rss_mb`` stays the host's) and a forecast of one training epoch over 7 M
genotypes (the original DCell's scale): ceil(7,000,000 / B) optimiser steps at the measured step
time, on the bench's ``--go`` and batch size B, without data loading (0.03 % of a step,
``benchmarks/README.md``, genome-scale training) and without scoring; run it with ``--go 2017``
for the full 2017 GO, and the numerics the step ran with (``--precision``, ``--tf32``,
``--cuda-graph``: applied as a training run applies them, by ``dcellx.train.precision`` and
``dcellx.train.cuda_graph``; under bf16 the engine is autograd, as in a run, and the roof is a
bf16 product; under the graph each timed step is a replay). The CPU output is unchanged.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from dcellx.batch import encode_genotypes, make_batch
from dcellx.bench.profile import profile_steps
from dcellx.bench.timing import time_steps, time_with_roof
from dcellx.data.datasets import load_dataset
from dcellx.data.inspect import peak_rss_mb
from dcellx.nn.buckets import PLANS, default_plan
from dcellx.nn.config import ModelConfig
from dcellx.nn.dcell import DCell
from dcellx.nn.init import init_term_state
from dcellx.nn.layout import ModelLayout
from dcellx.nn.loss import dcell_loss
from dcellx.nn.ops import section
from dcellx.nn.reference import ReferenceDCell
from dcellx.ontology.compiled import CompiledOntology
from dcellx.train.config import RunConfig
from dcellx.train.cuda_graph import GraphedLocal
from dcellx.train.precision import autocast_forward, numerics


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


# one epoch of the original DCell's scale (~7 M genotypes) for the forecast
EPOCH_GENOTYPES = 7_000_000


def _time_steps(step, n: int) -> float:
    """Seconds per step on CPU (``benchmarks/bench_buckets.py``)."""
    return time_steps(step, n, torch.device("cpu"))


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
    buckets: str | None = None,
    device: str = "cpu",
    tf32: bool = False,
    precision: str = "float32",
    cuda_graph: bool = False,
) -> dict:
    """Measure and return the bench JSON (see module docstring for what is counted).
    ``buckets``: a plan of ``PLANS``, None for the device's own (``default_plan``). ``tf32``,
    ``precision``, ``cuda_graph``: the run fields of those names, applied as a training run
    applies them (``dcellx.train.precision``, ``dcellx.train.cuda_graph``) to the engine's steps
    and the roof; the reference loop runs in float32, eagerly."""
    dev = torch.device(device)
    buckets = buckets or default_plan(device)
    rcfg = RunConfig(device=device, tf32=tf32, precision=precision, cuda_graph=cuda_graph)
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
    with numerics(rcfg, dev) as applied:
        out, prof, t_engine, extra = _engine_figures(
            onto, cfg, rcfg, layout, state, (enc, rows), steps, engine, dev, profile
        )
        out.update(buckets=buckets, batch_build_ms=round(batch_ms, 4))
        if prof is not None:
            out["profile"] = _with_bmm_flops(prof, layout, batch_size)
        batch = make_batch(enc, rows).to(dev)
        y = batch.y[:, 0]
        if with_reference:
            ref = ReferenceDCell(onto, cfg, layout).to(dev)
            ref.load_state_dict(state)
            ref.train()
            ropt = torch.optim.Adam(ref.parameters(), lr=1e-3, fused=True)
            x = batch.dense(onto.num_genes)
            ref_step = _train_step(ref, ropt, x, y, cfg)
            ref_step()
            t_ref = time_steps(ref_step, reference_steps, dev)
            out["reference_samples_per_s"] = round(batch_size / t_ref, 2)
            out["speedup"] = round(t_ref / t_engine, 2)
        else:
            out["reference_samples_per_s"] = None
            out["speedup"] = None
    if dev.type != "cpu":
        out.update(_device_figures(dev, batch_size, t_engine))
    if dev.type != "cpu" or precision != "float32":  # the CPU's default output stays as it was
        out.update(precision=precision, tf32=applied["tf32"], cuda_graph=cuda_graph, **extra)
    return out


def _engine_figures(onto, cfg, rcfg, layout, state, data, steps, engine, dev, profile):
    """(the engine's figures in the CPU bench's order, its profile or None, seconds a step,
    what a non-CPU bench adds about the step: its engine note, the graphs captured)."""
    enc, rows = data
    B = len(rows)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    note = None
    if rcfg.precision == "bf16" and engine != "autograd":  # as a training run does
        engine, note = "autograd", "the fused engine does not run under bf16 autocast"
    model = DCell(onto, cfg, layout, engine).to(dev)
    model.load_term_state_dict(state)
    model.train()
    # a captured step needs Adam's step count on the device (capturable) and static shapes
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True, capturable=rcfg.cuda_graph)
    pairs = model.set_static_shapes(enc, B) if rcfg.cuda_graph else None
    batch = make_batch(enc, rows, pairs=pairs).to(dev)
    net = autocast_forward(model, rcfg, dev)
    if rcfg.cuda_graph:
        world = GraphedLocal()
        engine_step = lambda: world.step(net, opt, batch, B, cfg, cfg.alpha, None)  # noqa: E731
    else:
        engine_step = _train_step(net, opt, batch, batch.y[:, 0], cfg)
    engine_step()  # warm-up (allocator, Adam state; under the graph: an eager step, a capture)
    engine_step()
    roof = torch.bfloat16 if rcfg.precision == "bf16" else torch.float32
    t_engine, gflops_dense = time_with_roof(engine_step, steps, dev, roof)
    rss = peak_rss_mb()
    gpu_mb = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else None
    prof = profile_steps(engine_step, device=dev) if profile else None
    macs = layout.useful_macs_per_sample()
    flops_step = 2 * macs * 3 * B
    out = {
        "go": onto.name,
        "preset": cfg.preset,
        "variant": cfg.variant,
        "engine": model.engine.name,
        "buckets": None,  # filled in by run_bench (keeps the CPU table's order)
        "batch_size": B,
        "threads": torch.get_num_threads(),
        "engine_samples_per_s": round(B / t_engine, 2),
        "engine_step_s": round(t_engine, 4 if dev.type == "cpu" else 6),
        "gflops_achieved": round(flops_step / t_engine / 1e9, 2),
        "gflops_dense_matmul": round(gflops_dense, 2),
        "mflop_per_sample_fwd": round(2 * macs / 1e6, 2),
        "peak_rss_mb": round(rss, 1),
        "params": model.num_parameters(),
        "neurons": layout.num_neurons,
        "terms": onto.num_terms,
        "strata": onto.num_strata,
        "batch_build_ms": None,  # filled in by run_bench
    }
    out["gflops_ratio"] = round(out["gflops_achieved"] / out["gflops_dense_matmul"], 3)
    if gpu_mb is not None:
        out["peak_gpu_mb"] = round(gpu_mb, 1)
    extra = {"engine_note": note, "graphs_captured": world.captures if rcfg.cuda_graph else 0}
    return out, prof, t_engine, extra


def epoch_forecast_s(step_s: float, batch_size: int, genotypes: int = EPOCH_GENOTYPES) -> float:
    """Seconds of one training epoch over ``genotypes`` at ``step_s`` a step of ``batch_size``:
    ceil(genotypes / batch_size) steps (the last one partial but a full step's time)."""
    return math.ceil(genotypes / batch_size) * step_s


def _device_figures(dev: torch.device, batch_size: int, t_engine: float) -> dict:
    """What a non-CPU bench adds: the device, versions, timer and the 7 M-genotype epoch."""
    cuda = dev.type == "cuda"
    return {
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if cuda else dev.type,
        "torch": torch.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "timer": "cuda-events" if cuda else "perf_counter+synchronize",
        "epoch_7m_forecast_min": round(epoch_forecast_s(t_engine, batch_size) / 60, 2),
    }


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
