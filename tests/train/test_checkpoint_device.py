"""Checkpoints hold CPU tensors and read back bit for bit, on the CPU, whatever the device that
wrote them: the model's term-named state is sliced on the host from one copy per packed tensor
(``dcellx.nn.term_state.moved``), the optimiser state is saved as it is and read onto the CPU
(``map_location="cpu"``, ``weights_only=True``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from dcellx.nn.config import make_config
from dcellx.nn.dcell import DCell
from dcellx.nn.init import init_term_state
from dcellx.nn.layout import ModelLayout
from dcellx.nn.loss import dcell_loss
from dcellx.train import checkpoint
from tests.nn.test_equivalence import real_batch


def trained(onto, device: str) -> tuple[DCell, torch.optim.Optimizer]:
    """The paper model on ``device`` after one Adam step on 16 real genotypes (so that running
    statistics, weights and the optimiser state all moved from their initial values)."""
    cfg = make_config("paper")
    layout = ModelLayout(onto, cfg)
    model = DCell(onto, cfg, layout).to(device)
    model.load_term_state_dict(init_term_state(layout, 5))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = real_batch(onto).to(device)
    root, aux = model(batch)
    dcell_loss(root, aux, batch.y[:, 0], cfg, l2_params=model.l2_parameters()).total.backward()
    opt.step()
    return model, opt


def save_and_load(tmp_path: Path, model: DCell, opt: torch.optim.Optimizer) -> dict:
    path = tmp_path / checkpoint.LAST
    checkpoint.save(path, {"model": model.term_state_dict(), "optimizer": opt.state_dict()})
    return checkpoint.load(path)


def cpu_tensors(tree) -> list[torch.Tensor]:
    return [t for t in tree_leaves(tree) if isinstance(t, torch.Tensor)]


def test_a_checkpoint_round_trips_bitwise_on_the_cpu(onto_dna, tmp_path) -> None:
    model, opt = trained(onto_dna, "cpu")
    ckpt = save_and_load(tmp_path, model, opt)
    assert {t.device.type for t in cpu_tensors(ckpt)} == {"cpu"}
    named = model.term_state_dict()
    assert list(ckpt["model"]) == list(named)
    assert all(torch.equal(ckpt["model"][k], v) for k, v in named.items())
    fresh, fresh_opt = trained(onto_dna, "cpu")
    fresh.load_term_state_dict(init_term_state(fresh.layout, 9))
    fresh.load_term_state_dict(ckpt["model"])
    fresh_opt.load_state_dict(ckpt["optimizer"])
    for (name, a), b in zip(model.state_dict().items(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    for p, q in zip(opt.state.values(), fresh_opt.state.values(), strict=True):
        assert all(torch.equal(p[k], q[k]) for k in p)


class DeviceToHost(TorchDispatchMode):
    """Counts operators that read a CUDA tensor and return a CPU one (device-to-host copies)."""

    def __init__(self) -> None:
        super().__init__()
        self.copies = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        reads = {t.device.type for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)}
        writes = {t.device.type for t in tree_leaves(out) if isinstance(t, torch.Tensor)}
        self.copies += "cuda" in reads and "cpu" in writes
        return out


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_cuda_checkpoint_is_one_copy_per_packed_tensor_and_loads_on_the_cpu(
    onto_dna, tmp_path
) -> None:
    model, opt = trained(onto_dna, "cuda")
    on_device = len({id(t) for t in (*model.parameters(), *model.buffers())})
    with DeviceToHost() as d2h:
        named = model.term_state_dict()
    assert d2h.copies == on_device
    ckpt = save_and_load(tmp_path, model, opt)
    assert {t.device.type for t in cpu_tensors(ckpt)} == {"cpu"}
    assert all(torch.equal(ckpt["model"][k], v) for k, v in named.items())
    # the same state read from a CPU copy of the model: slicing on the host changes no bit
    host = DCell(onto_dna, model.cfg, model.layout)
    host.load_state_dict({k: v.cpu() for k, v in model.state_dict().items()})
    assert all(torch.equal(ckpt["model"][k], v) for k, v in host.term_state_dict().items())
    host.load_term_state_dict(ckpt["model"])  # and loads into a CPU model
