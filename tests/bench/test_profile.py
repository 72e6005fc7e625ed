"""``dcellx bench --profile``: every part of a real training step is found, forward and backward,
on both engines, and the parts add up to the profiled step."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from dcellx.batch import encode_genotypes, make_batch
from dcellx.bench.profile import profile_steps
from dcellx.bench.run import _train_step, _with_bmm_flops
from dcellx.data.datasets import load_dataset
from dcellx.nn.config import make_config
from dcellx.nn.dcell import DCell
from dcellx.nn.init import init_term_state
from dcellx.nn.layout import ModelLayout
from dcellx_cli.main import app


@pytest.mark.parametrize("fused", [True, False])
def test_profile_finds_every_part(onto_dna, fused: bool) -> None:
    cfg = make_config("paper")
    layout = ModelLayout(onto_dna, cfg)
    model = DCell(onto_dna, cfg, layout, "fused" if fused else "autograd")
    model.load_term_state_dict(init_term_state(layout, seed=0))
    enc = encode_genotypes(load_dataset("dcell-dna-repair")["train"], onto_dna)
    batch = make_batch(enc, np.arange(32))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    step = _train_step(model, opt, batch, batch.y[:, 0], cfg)
    step()
    prof = _with_bmm_flops(profile_steps(step), layout, 32)
    parts = {r["part"]: r for r in prof["parts"]}
    for name in ("gather", "matmul", "bias+genes", "tanh", "norm", "aux heads", "loss"):
        assert parts[name]["forward_ms"] > 0 and parts[name]["backward_ms"] > 0, name
    assert parts["Adam (fused)"]["forward_ms"] > 0
    total = sum(r["forward_ms"] + r["backward_ms"] for r in prof["parts"])
    assert total == pytest.approx(prof["profiled_step_ms"], rel=1e-9)
    # forward and both backward products of every bucket that reads states
    reads = sum(len(p.buckets) for p in layout.strata if p.index > 0)
    assert prof["bmm_calls_per_step"] >= 3 * reads
    assert prof["kernels_ms"]["bmm"] > 0 and 0 <= prof["bmm_padding_share"] < 1


def test_bench_command_prints_the_profile(onto_dna) -> None:
    args = ["bench", "--go", "dna-repair", "--batch-size", "16", "--steps", "1", "--profile"]
    res = CliRunner().invoke(app, [*args, "--no-reference"], env={"COLUMNS": "160"})
    assert res.exit_code == 0, res.output
    for text in ("where a step goes (paper, batch 16)", "aux heads", "Adam (fused)", "bmm:"):
        assert text in res.output
    bad = CliRunner().invoke(app, [*args, "--engine", "jit"])
    assert bad.exit_code == 2 and "choose fused or autograd" in bad.output
