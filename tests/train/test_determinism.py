"""Same seed and thread count -> identical metrics.csv on CPU (the seconds column aside)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from dcellx.nn.loss import dcell_loss
from dcellx.train import make_run_config, run
from dcellx.train.data import load_run_data
from dcellx.train.models import build_model
from tests.train.conftest import metrics_without_seconds


def _metrics(tmp_path, name: str, **kw) -> list[list[str]]:
    kw = {"epochs": 40, **kw}
    cfg = make_run_config(
        go="dna-repair", runs_dir=str(tmp_path / name), threads=1, quiet=True,
        keep_checkpoints="none", **kw,
    )  # fmt: skip
    return metrics_without_seconds(run(cfg).run_dir)


def test_same_seed_same_metrics(tmp_path) -> None:
    a = _metrics(tmp_path, "a", seed=5)
    b = _metrics(tmp_path, "b", seed=5)
    assert len(a) == 41 and a == b
    assert _metrics(tmp_path, "c", seed=6) != a  # the seed does reach the model


def test_batch_seed_draws_a_different_batch(tmp_path) -> None:
    a = _metrics(tmp_path, "a", batch_seed=1)
    assert a == _metrics(tmp_path, "b", batch_seed=1)
    assert a != _metrics(tmp_path, "c")


def test_train_mode_is_deterministic(tmp_path, small_data) -> None:
    kw = dict(mode="train", data=str(small_data), epochs=3, scheduler="cosine")
    assert _metrics(tmp_path, "a", **kw) == _metrics(tmp_path, "b", **kw)


BUSY = """
import torch
torch.set_num_threads(2)
a = torch.randn(1500, 1500)
while True:
    a = torch.tanh(a @ a / 40)
"""


@pytest.fixture
def busy_sibling():
    """Another CPU-heavy process on the machine (a second job on a shared SLURM node): two
    threads of matrix products for as long as the test runs."""
    proc = subprocess.Popen([sys.executable, "-c", BUSY])
    yield proc
    proc.kill()
    proc.wait()


def test_two_threads_reproducible_under_load(tmp_path, busy_sibling) -> None:
    """Issue 14: ``--threads 2`` twice beside a busy process drifted apart on the full 2017 GO.
    The cause was the backward of ``x[index]`` (atomic float adds across threads, see
    ``dcellx.nn.ops``): before the fix about one gradient in five of the real model on its real
    overfit batch differed from the first; now twenty are bitwise equal."""
    torch.set_num_threads(2)
    cfg = make_run_config(go="2017", runs_dir=str(tmp_path), threads=2, quiet=True, seed=7)
    data = load_run_data(cfg)
    batch = data.train.batch(data.train.rows)
    model = build_model(data.onto, cfg.model, cfg.variant, seed=7)

    def gradients() -> list[torch.Tensor]:
        model.zero_grad()
        root, aux = model(batch)
        loss = dcell_loss(root, aux, batch.y, cfg.model, l2_params=model.l2_parameters())
        loss.total.backward()
        return [p.grad.clone() for p in model.parameters() if p.grad is not None]

    first = gradients()
    for _ in range(20):
        assert all(torch.equal(a, b) for a, b in zip(gradients(), first, strict=True))
    assert busy_sibling.poll() is None  # the sibling really ran throughout
