"""``dcellx bench`` on CPU after the device changes: the same figures in the same order as before,
the device's plan by default, timings that call the step as often as they say, the epoch
forecast's arithmetic, and one clear line for a device that is not there."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from dcellx.bench.run import epoch_forecast_s, run_bench
from dcellx.bench.timing import roof_size, time_steps, time_with_roof
from dcellx.nn.config import make_config
from dcellx_cli.main import app

# the CPU bench's figures, in its table's order, as they were before --device existed
CPU_KEYS = [
    "go", "preset", "variant", "engine", "buckets", "batch_size", "threads",
    "engine_samples_per_s", "engine_step_s", "gflops_achieved", "gflops_dense_matmul",
    "mflop_per_sample_fwd", "peak_rss_mb", "params", "neurons", "terms", "strata",
    "batch_build_ms", "gflops_ratio", "reference_samples_per_s", "speedup",
]  # fmt: skip


def test_cpu_output_is_unchanged(onto_dna) -> None:
    out = run_bench(onto_dna, make_config("paper"), batch_size=16, threads=1, steps=2)
    assert list(out) == CPU_KEYS
    assert out["buckets"] == "cost-v1"  # the CPU's plan when none is named
    assert out["batch_build_ms"] > 0 and out["engine_step_s"] > 0 and out["speedup"] > 0
    assert out["gflops_ratio"] == pytest.approx(
        out["gflops_achieved"] / out["gflops_dense_matmul"], abs=1e-3
    )
    named = run_bench(
        onto_dna, make_config("paper"), 16, 1, 1, with_reference=False, buckets="gpu-v0"
    )
    assert named["buckets"] == "gpu-v0" and named["speedup"] is None
    assert named["params"] == out["params"]


def test_bf16_on_cpu_runs_the_training_runs_numerics(onto_dna) -> None:
    """--precision bf16 steps through the run's autocast wrapper on the autograd engine (the
    fused engine's backward is float32), and says so; the roof is a bf16 product."""
    cfg = make_config("paper")
    out = run_bench(onto_dna, cfg, 16, 1, 1, with_reference=False, precision="bf16")
    assert out["engine"] == "autograd" and out["precision"] == "bf16"
    assert "bf16" in out["engine_note"] and out["cuda_graph"] is False
    assert out["gflops_dense_matmul"] > 0 and out["engine_samples_per_s"] > 0


def test_timers_call_the_step_once_per_timed_step() -> None:
    calls = []
    step = lambda: calls.append(1)  # noqa: E731
    t, roof = time_with_roof(step, 3, torch.device("cpu"), size=64)
    assert len(calls) == 3 and t >= 0 and roof > 0
    assert time_steps(step, 4, torch.device("cpu")) >= 0 and len(calls) == 7
    assert roof_size(torch.device("cpu")) == 2048 and roof_size(torch.device("cuda")) == 4096


def test_epoch_forecast_counts_whole_steps() -> None:
    # 7,000,000 / 256 = 27,343.75 -> 27,344 steps
    assert epoch_forecast_s(0.01, 256) == pytest.approx(273.44)
    assert epoch_forecast_s(0.5, 1000, genotypes=3000) == pytest.approx(1.5)


def test_a_device_that_is_not_there_is_one_clear_refusal() -> None:
    args = ["bench", "--go", "dna-repair", "--steps", "1", "--no-reference"]
    bad = CliRunner().invoke(app, [*args, "--device", "gpu0"])
    assert bad.exit_code == 2 and "not a torch device" in bad.output
    graph = CliRunner().invoke(app, [*args, "--cuda-graph"])
    assert graph.exit_code == 2 and "needs --device cuda" in graph.output
    fp16 = CliRunner().invoke(app, [*args, "--precision", "fp16"])
    assert fp16.exit_code == 2 and "choose float32 or bf16" in fp16.output
    if not torch.cuda.is_available():
        res = CliRunner().invoke(app, [*args, "--device", "cuda"])
        assert res.exit_code == 2 and "CUDA is not available" in res.output
