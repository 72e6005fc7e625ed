"""A run's numerics (``dcellx.train.precision``): TF32 and deterministic algorithms set for the
run's duration and put back after it, the cuBLAS workspace a deterministic run needs, and bf16
autocast around the training forward with everything that persists kept in float32. On the CPU
(which autocasts to bf16 too) with real DNA-repair data; the switches of a CUDA device are
Python flags that can be set and read back without one."""

from __future__ import annotations

import json
import math
import os

import pytest
import torch

from dcellx.errors import ConfigError
from dcellx.train import make_run_config, run
from dcellx.train.context import build_training
from dcellx.train.data import load_run_data
from dcellx.train.precision import CUBLAS_ENV, AutocastForward, autocast_forward, numerics
from dcellx.train.world import Local
from tests.train.conftest import metrics_without_seconds, only_run

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def _flags() -> tuple:
    return (
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.are_deterministic_algorithms_enabled(),
    )


def _cfg(**kw):
    return make_run_config(mode="overfit", go="dna-repair", seed=0, threads=1, **kw)


def test_switches_hold_for_the_run_and_are_put_back(monkeypatch) -> None:
    monkeypatch.delenv(CUBLAS_ENV, raising=False)
    before = _flags()
    with numerics(_cfg(tf32=True), CPU) as applied:  # no TF32 on a CPU: nothing changes
        assert _flags() == before and applied["tf32"] is False
    with numerics(_cfg(device="cuda", tf32=True, deterministic=True), CUDA) as applied:
        assert _flags() == (True, True, True)
        assert applied == {
            "precision": "float32",
            "tf32": True,
            "deterministic": True,
            CUBLAS_ENV: ":4096:8",
        }
    assert _flags() == before
    assert os.environ[CUBLAS_ENV] == ":4096:8"  # cuBLAS reads it once: it stays set
    monkeypatch.setenv(CUBLAS_ENV, ":0:0")
    with pytest.raises(ConfigError, match="makes cuBLAS non-deterministic"):
        with numerics(_cfg(deterministic=True), CPU):
            pass
    assert _flags() == before


def test_a_bf16_step_keeps_parameters_statistics_and_optimiser_state_float32() -> None:
    cfg16, cfg32 = _cfg(precision="bf16"), _cfg()
    data = load_run_data(cfg32)
    batch = data.train.batch(data.train.rows)
    model16, opt16, _ = build_training(cfg16, data, CPU)
    model32, opt32, _ = build_training(cfg32, data, CPU)
    # the fused engine does not run under autocast: a bf16 run is on autograd, and says why
    assert model16.engine.name == "autograd" and "bf16 autocast" in model16.engine_note
    assert model32.engine.name == "fused" and model32.engine_note is None
    net = autocast_forward(model16, cfg16, CPU)
    assert isinstance(net, AutocastForward) and autocast_forward(model32, cfg32, CPU) is model32
    l2 = model16.l2_parameters()
    root16, losses16 = Local().step(net, opt16, batch, batch.size, cfg16.model, 0.3, l2)
    l2 = model32.l2_parameters()
    root32, losses32 = Local().step(model32, opt32, batch, batch.size, cfg32.model, 0.3, l2)
    assert root16.dtype == losses16.dtype == torch.float32 and bool(losses16.isfinite().all())
    assert not torch.equal(root16, root32)  # the forward did run in bf16 ...
    torch.testing.assert_close(root16, root32, rtol=0.05, atol=0.05)  # ... to bf16's precision
    assert {p.dtype for p in model16.parameters()} == {torch.float32}
    assert {b.dtype for b in model16.buffers() if b.is_floating_point()} == {torch.float32}
    state = [t for s in opt16.state.values() for t in s.values() if t.is_floating_point()]
    assert state and {t.dtype for t in state} == {torch.float32}


def test_a_bf16_deterministic_run_records_its_numerics(tmp_path) -> None:
    before = _flags()
    cfg = _cfg(precision="bf16", deterministic=True, epochs=2, runs_dir=str(tmp_path), quiet=True)
    result = run(cfg)
    assert _flags() == before  # the run put the process's switches back
    config = json.loads((only_run(tmp_path) / "config.json").read_text())
    assert config["numerics"]["precision"] == "bf16" and config["numerics"]["deterministic"]
    assert config["model"]["engine"] == "autograd" and "bf16" in config["model"]["engine_note"]
    assert math.isfinite(result.summary["final_loss_total"])


def test_a_deterministic_run_repeats_its_metrics_to_the_bit(tmp_path) -> None:
    for name in ("a", "b"):
        cfg = _cfg(deterministic=True, epochs=3, runs_dir=str(tmp_path / name), quiet=True)
        run(cfg)
    first, second = (metrics_without_seconds(only_run(tmp_path / n)) for n in ("a", "b"))
    assert len(first) == 4 and first == second
