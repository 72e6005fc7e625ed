"""On CUDA the engine's scatter-adds are segment sums (``dcellx.nn.ops``): two training steps
from one seed give bitwise equal outputs and gradients on a batch whose genes repeat across
samples (64 real DNA-repair genotypes), with and without fixed shapes, and float64 equals the
CPU path to 1e-10. Skipped without CUDA."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dcellx.batch import encode_genotypes, make_batch
from dcellx.data.datasets import load_dataset
from dcellx.nn.config import make_config
from dcellx.nn.dcell import DCell
from dcellx.nn.loss import dcell_loss

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]
CONFIGS = [
    ("paper", {}),
    ("lua", {}),
    ("lua-released", {}),
    ("paper", {"variant": "embedding", "embedding_dim": 4}),
    ("paper", {"variant": "embedding-attention", "embedding_dim": 4, "attention_heads": 2}),
]


def _steps(onto, preset, kw, engine, device, dtype, static: bool) -> list[torch.Tensor]:
    cfg = make_config(preset, **kw)
    model = DCell(onto, cfg, engine=engine).to(device, dtype)
    enc = encode_genotypes(load_dataset("dcell-dna-repair")["train"], onto)
    pairs = model.set_static_shapes(enc, 64) if static else None
    batch = make_batch(enc, np.arange(64), pairs=pairs).to(device)
    out = []
    for _ in range(3):
        model.zero_grad(set_to_none=True)
        root, aux = model(batch)
        y = batch.y[:, 0].to(dtype)
        dcell_loss(root, aux, y, cfg, l2_params=model.l2_parameters()).total.backward()
        out += [root.detach().cpu(), aux.detach().cpu()]
        with torch.no_grad():
            for p in model.parameters():
                if p.grad is not None:
                    out.append(p.grad.cpu())
                    p -= 1e-3 * p.grad
    return out


@pytest.mark.parametrize("static", [False, True])
@pytest.mark.parametrize("engine", ["fused", "autograd"])
@pytest.mark.parametrize("preset,kw", CONFIGS)
def test_two_cuda_runs_are_bitwise_equal(onto_dna, preset, kw, engine, static) -> None:
    a, b = (_steps(onto_dna, preset, kw, engine, "cuda", torch.float32, static) for _ in "ab")
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("engine", ["fused", "autograd"])
@pytest.mark.parametrize("preset,kw", CONFIGS[:3])
def test_float64_cuda_equals_the_cpu_path(onto_dna, preset, kw, engine) -> None:
    gpu = _steps(onto_dna, preset, kw, engine, "cuda", torch.float64, True)
    cpu = _steps(onto_dna, preset, kw, engine, "cpu", torch.float64, False)
    top = max(float(c.abs().max()) for c in cpu)
    for g, c in zip(gpu, cpu, strict=True):
        assert float((g - c).abs().max()) <= 1e-10 * max(float(c.abs().max()), 1e-4 * top)
