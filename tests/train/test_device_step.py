"""The training step leaves its results on the device: ``world.step`` returns the losses as a
tensor, an epoch sums them and keeps its predictions on the device, and scoring a split copies its
predictions back once. A read back to the host (``item``, ``tolist``, ``cpu``, ``numpy``, a
Python number of a tensor) is a synchronisation on CUDA; here the reads the training layer makes
are counted on the CPU, and they must not grow with the number of steps or scored batches. Real
DNA-repair genotypes (the 400-genotype file: 360 training rows, 40 validation rows)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch.overrides import TorchFunctionMode

import dcellx.train.evaluate as evaluate
from dcellx.nn.loss import dcell_loss
from dcellx.train import make_run_config, run
from dcellx.train.context import build_training
from dcellx.train.data import load_run_data
from dcellx.train.throughput import MEASURED_STEPS, WARMUP_STEPS, Throughput
from dcellx.train.world import Local

READS = {"item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__", "__index__"}
TRAIN_LAYER = str(Path(evaluate.__file__).parent)  # dcellx/train
TORCH = str(Path(torch.__file__).parent)


class HostReads(TorchFunctionMode):
    """Counts the host reads whose caller (the first frame outside torch) is in dcellx/train,
    by file and line, so a failing count says where the extra reads come from."""

    def __init__(self) -> None:
        super().__init__()
        self.sites: dict[str, int] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in READS:
            frame = sys._getframe(1)
            while frame is not None and frame.f_code.co_filename.startswith(TORCH):
                frame = frame.f_back
            if frame is not None and frame.f_code.co_filename.startswith(TRAIN_LAYER):
                site = f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno}"
                self.sites[site] = self.sites.get(site, 0) + 1
        return func(*args, **(kwargs or {}))


def _cfg(runs: Path, data: Path, **kw):
    fields = dict(mode="train", go="dna-repair", data=str(data), epochs=2, threads=1, seed=1)
    fields.update(keep_checkpoints="none", runs_dir=str(runs), quiet=True)
    return make_run_config(**{**fields, **kw})


def test_host_reads_of_a_training_run_do_not_grow_with_its_steps(tmp_path, small_data) -> None:
    counts = {}
    for batch_size in (120, 30):  # 3 and 12 steps per epoch
        with HostReads() as reads:
            run(_cfg(tmp_path / str(batch_size), small_data, batch_size=batch_size))
        counts[batch_size] = reads.sites
    assert counts[30] == counts[120]
    assert sum(counts[30].values()) > 0  # the counter sees the epoch's reads at all


def test_scoring_a_split_copies_its_predictions_back_once(
    tmp_path, small_data, monkeypatch
) -> None:
    cfg = _cfg(tmp_path, small_data)
    data = load_run_data(cfg)
    model, _, _ = build_training(cfg, data, torch.device("cpu"))
    rows = data.train.rows
    whole = evaluate.predict_split(model, data.train, rows, torch.device("cpu"))
    monkeypatch.setattr(evaluate, "EVAL_BATCH", 7)  # 52 forwards instead of 1
    with HostReads() as reads:
        chunked = evaluate.predict_split(model, data.train, rows, torch.device("cpu"))
    assert sum(reads.sites.values()) == 2  # one copy to the CPU, one view as numpy
    assert chunked.dtype == whole.dtype and chunked.shape == (len(rows),)
    torch.testing.assert_close(torch.from_numpy(chunked), torch.from_numpy(whole))


def test_a_step_returns_its_losses_as_a_tensor_on_the_device(tmp_path, small_data) -> None:
    cfg = _cfg(tmp_path, small_data)
    data = load_run_data(cfg)
    dev = torch.device("cpu")
    model, opt, _ = build_training(cfg, data, dev)
    batch = data.train.batch(data.train.rows[:32]).to(dev)
    # the loss of the step's own forward, computed first on an unchanged copy of the model
    twin, _, _ = build_training(cfg, data, dev)
    twin.train()
    root, aux = twin(batch)
    parts = dcell_loss(root, aux, batch.y, cfg.model, alpha=0.3, l2_params=twin.l2_parameters())
    with HostReads() as reads:
        pred, losses = Local().step(model, opt, batch, 32, cfg.model, 0.3, model.l2_parameters())
    assert reads.sites == {}
    assert losses.shape == (3,) and losses.device == dev and not losses.requires_grad
    assert not pred.requires_grad and torch.equal(pred, root.detach())
    assert torch.equal(losses, torch.stack([parts.total.detach(), parts.root, parts.aux]))


def test_the_throughput_window_asks_for_the_device_only_while_it_measures() -> None:
    meter = Throughput(epoch_samples=320, epoch_steps=10, planned_steps=20, done_steps=0)
    waits = []
    for _ in range(12):
        waits.append(meter.timing)
        meter.add(0.01, 32)
    # the warm-up's steps and the measured window's wait for the device, later steps do not
    assert waits == [True] * (WARMUP_STEPS + MEASURED_STEPS) + [False] * 5
    assert meter.measured
