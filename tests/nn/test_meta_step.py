"""A whole training step (forward, loss, backward) on the ``meta`` device: tensors there have
shapes but no values, so any ``.item()``, ``.tolist()`` or shape that depends on the batch's
contents raises. A step that runs there runs on CUDA without waiting for the device, with shapes
fixed per (batch size, capacities), as a CUDA graph needs. A dispatch mode checks that every
tensor any op of the step touches sits on the model's device (a stray host tensor is a copy per
step, or an error inside a graph)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from dcellx.batch import encode_genotypes, make_batch
from dcellx.data.datasets import load_dataset
from dcellx.nn.config import make_config
from dcellx.nn.dcell import DCell
from dcellx.nn.loss import dcell_loss

# every gene kind with static shapes, both engines (layer norm and depth 2: autograd)
CONFIGS = [
    ("paper", {}),
    ("paper", {"gene_state": "present-one", "norm": "none"}),
    ("torchcell", {}),
    ("dcell-new", {"root_extra_input": "constant-one"}),
    ("lua", {}),
    ("lua-released", {}),
    ("paper", {"variant": "embedding", "embedding_dim": 4}),
    ("paper", {"norm": "layer"}),
    ("paper", {"depth": 2}),
    ("torchcell", {"aux_input": "pre-norm", "aux_head": "tanh-linear"}),
]
IDS = [f"{p}-{','.join(f'{k}={v}' for k, v in kw.items())}" for p, kw in CONFIGS]


class Devices(TorchDispatchMode):
    """Every device of every tensor argument of every op run inside it."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[str, set[str]] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        flat, _ = torch.utils._pytree.tree_flatten((args, kwargs))
        for a in flat:
            if isinstance(a, torch.Tensor):
                self.seen.setdefault(str(a.device), set()).add(str(func))
        return func(*args, **kwargs)


def fixed_shape_batch(onto, model: DCell, B: int = 16):
    """A real DNA-repair batch padded to the shapes ``set_static_shapes`` fixes."""
    enc = encode_genotypes(load_dataset("dcell-dna-repair")["train"], onto)
    pairs = model.set_static_shapes(enc, B)
    return make_batch(enc, np.arange(B), pairs=pairs)


def meta_step(onto, preset: str, kw: dict, engine: str, static: bool = True) -> Devices:
    cfg = make_config(preset, **kw)
    model = DCell(onto, cfg, engine=engine)
    if static:
        batch = fixed_shape_batch(onto, model).to("meta")
    else:  # entries sized per batch from its host copy
        enc = encode_genotypes(load_dataset("dcell-dna-repair")["train"], onto)
        batch = make_batch(enc, np.arange(16)).to("meta")
    model.to("meta")
    mode = Devices()
    with mode:
        for _ in range(2):  # the second step reuses the fused engine's buffers
            model.zero_grad(set_to_none=True)
            root, aux = model(batch)
            loss = dcell_loss(root, aux, batch.y[:, 0], cfg, l2_params=model.l2_parameters())
            loss.total.backward()
    assert root.device.type == "meta" and root.shape == (16,)
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.numel()]
    assert all(g is not None and g.device.type == "meta" for g in grads)
    return mode


@pytest.mark.parametrize("engine", ["fused", "autograd"])
@pytest.mark.parametrize("preset,kw", CONFIGS, ids=IDS)
def test_a_step_runs_on_meta_with_every_tensor_there(onto_dna, preset, kw, engine) -> None:
    mode = meta_step(onto_dna, preset, kw, engine)
    assert set(mode.seen) == {"meta"}, {d: sorted(ops)[:5] for d, ops in mode.seen.items()}


@pytest.mark.parametrize("engine", ["fused", "autograd"])
@pytest.mark.parametrize("preset", ["paper", "lua", "lua-released"])
def test_a_step_without_fixed_shapes_runs_on_meta_too(onto_dna, preset, engine) -> None:
    assert set(meta_step(onto_dna, preset, {}, engine, static=False).seen) == {"meta"}


TERM_VECTORS = ["embedding-pooled", "embedding-deepset", "embedding-attention"]


@pytest.mark.parametrize("engine", ["fused", "autograd"])
@pytest.mark.parametrize("variant", TERM_VECTORS)
def test_term_vector_kinds_step_on_meta_with_host_copies_only(onto_dna, variant, engine) -> None:
    """They find their pairs on the host (no sync; shapes follow the batch): the only ops that
    see a host tensor are the copies of those indices to the device."""
    kw = {"variant": variant, "embedding_dim": 4, "attention_heads": 2}
    mode = meta_step(onto_dna, "paper", kw, engine)
    assert set(mode.seen) == {"meta", "cpu"}
    copies = {"aten.lift_fresh.default", "aten._to_copy.default"}  # numpy -> tensor -> device
    assert mode.seen["cpu"] == copies, mode.seen["cpu"]


def test_the_checks_catch_a_sync_and_a_stray_host_tensor() -> None:
    x = torch.ones(3, device="meta")
    with pytest.raises((RuntimeError, NotImplementedError)):
        x.sum().item()
    with pytest.raises((RuntimeError, NotImplementedError)):
        x.tolist()
    mode = Devices()
    with mode:
        x + torch.ones(3).to("meta")  # built on the host, then copied
    assert "cpu" in mode.seen


def test_a_batch_keeps_its_genes_on_the_host_when_moved(onto_dna) -> None:
    enc = encode_genotypes(load_dataset("dcell-dna-repair")["train"], onto_dna)
    batch = make_batch(enc, np.arange(8))
    moved = batch.to("meta")
    assert moved.gene.device.type == "meta" and moved.rows.device.type == "cpu"
    assert np.array_equal(moved.host_genes(), batch.gene.numpy())
