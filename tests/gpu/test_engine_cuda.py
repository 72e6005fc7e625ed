"""The engine on a CUDA device: in float64 it computes what the CPU reference loop computes (to
1e-10, outputs, losses and every gradient, over two training steps), a training step touches no
tensor off the GPU, and ``dcellx bench --device cuda`` runs and reports the device's figures.
Skipped without CUDA (``tests/gpu/conftest.py``)."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from dcellx.data.universe import load_ontology_with_datasets
from dcellx.nn.config import make_config
from dcellx.nn.dcell import DCell
from dcellx.nn.init import init_term_state
from dcellx.nn.layout import ModelLayout
from dcellx.nn.loss import dcell_loss
from dcellx_cli.main import app
from tests.gpu.engine_check import engine_vs_reference, real_batch
from tests.nn.test_reference_device import DevicesSeen

pytestmark = pytest.mark.gpu
CUDA = torch.device("cuda")


@pytest.mark.parametrize(
    "go,preset,plan",
    [("dna-repair", "paper", "gpu-v0"), ("2017", "paper", "gpu-v0"),
     ("2017", "torchcell", "cost-v1")],
)  # fmt: skip
def test_float64_gpu_engine_equals_the_cpu_reference(go: str, preset: str, plan: str) -> None:
    worst = engine_vs_reference(go, preset, plan, "cuda")
    assert worst["max_rel"] <= 1e-10, worst


def test_a_training_step_touches_only_the_gpu() -> None:
    onto = load_ontology_with_datasets("dna-repair")
    cfg = make_config("paper")
    layout = ModelLayout(onto, cfg)
    model = DCell(onto, cfg, layout).to(CUDA)
    model.load_term_state_dict(init_term_state(layout, seed=0))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    batch = real_batch(onto, 32).to(CUDA)
    y = batch.y[:, 0]
    for _ in range(2):  # the second step runs on the buffers and Adam state of the first
        with DevicesSeen() as mode:
            root, aux = model(batch)
            loss = dcell_loss(root, aux, y, cfg, l2_params=model.l2_parameters()).total
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        off = sorted(op for dev, op in mode.seen if dev != "cuda")
        assert not off, off


def test_bench_runs_on_cuda() -> None:
    args = ["bench", "--go", "dna-repair", "--device", "cuda", "--steps", "2", "--json"]
    res = CliRunner().invoke(app, [*args, "--batch-size", "32"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["device"].startswith("cuda") and out["timer"] == "cuda-events"
    assert out["buckets"] == "gpu-v0" and out["peak_gpu_mb"] > 0
    assert out["engine_samples_per_s"] > 0 and out["gflops_dense_matmul"] > 0
    assert out["epoch_7m_forecast_min"] > 0 and out["speedup"] > 0
    prof = CliRunner().invoke(app, [*args, "--profile", "--no-reference"])
    assert prof.exit_code == 0, prof.output
    p = json.loads(prof.output)["profile"]
    assert p["kernels_ms"]["bmm"] > 0 and p["profiled_step_ms"] > 0


@pytest.mark.parametrize("flags", [["--cuda-graph"], ["--precision", "bf16", "--tf32"]])
def test_bench_takes_the_runs_numerics_on_cuda(flags: list[str]) -> None:
    args = ["bench", "--go", "dna-repair", "--device", "cuda", "--steps", "3", "--json"]
    res = CliRunner().invoke(app, [*args, "--no-reference", *flags])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["engine_samples_per_s"] > 0 and out["peak_gpu_mb"] > 0
    if "--cuda-graph" in flags:
        assert out["cuda_graph"] is True and out["graphs_captured"] == 1
    else:
        assert out["precision"] == "bf16" and out["tf32"] is True and out["engine"] == "autograd"
