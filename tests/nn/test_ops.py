"""No model dcellx trains accumulates a gradient through a kernel whose result follows the OS
scheduler: ``index_put_(accumulate=True)`` (the backward of ``x[index]``) with a repeated index
adds floats atomically across threads on CPU. ``take`` replaces it; this audits every preset,
variant and baseline on the real DNA-repair ontology and data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from dcellx.batch import encode_genotypes, make_batch
from dcellx.data.datasets import load_dataset
from dcellx.nn.config import VARIANTS, make_config
from dcellx.nn.loss import dcell_loss
from dcellx.nn.ops import take
from dcellx.train.baselines import batch_pairs
from dcellx.train.models import build_model

PRESETS = ["paper", "lua", "lua-released", "torchcell", "dcell-new"]
ACCUMULATING = {
    "aten.index_put.default",
    "aten.index_put_.default",
    "aten._index_put_impl_.default",
}


def repeats(indices: list[torch.Tensor | None]) -> bool:
    """Whether the index tuple of an ``index_put`` names one position twice (bool masks never)."""
    idx = [i for i in indices if i is not None]
    if not idx or any(i.dtype == torch.bool for i in idx):
        return False
    pos = torch.stack([i.reshape(-1) for i in torch.broadcast_tensors(*idx)], 1)
    return len(torch.unique(pos, dim=0)) < len(pos)


class ScheduleDependentOps(TorchDispatchMode):
    """Records every accumulating ``index_put`` whose index repeats (forward and backward)."""

    def __init__(self) -> None:
        super().__init__()
        self.hits: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if str(func) in ACCUMULATING:
            accumulate = args[3] if len(args) > 3 else kwargs.get("accumulate", False)
            if accumulate and repeats(list(args[1])):
                self.hits.append(f"{func} on {tuple(args[0].shape)}")
        return func(*args, **kwargs)


@pytest.fixture(scope="module")
def dna_batch(onto_dna):
    enc = encode_genotypes(load_dataset("dcell-dna-repair")["train"], onto_dna)
    return make_batch(enc, np.arange(64))  # 64 genotypes: genes repeat across samples


def audit(model, batch, cfg) -> list[str]:
    mode = ScheduleDependentOps()
    with mode:
        root, aux = model(batch)
        loss = dcell_loss(root, aux, batch.y[:, 0].float(), cfg, l2_params=model.l2_parameters())
        loss.total.backward()
    return mode.hits


def test_the_detector_sees_plain_indexing(dna_batch) -> None:
    w = torch.zeros(10, requires_grad=True)
    idx = torch.tensor([1, 1, 2])
    mode = ScheduleDependentOps()
    with mode:
        w[idx].sum().backward()
    assert mode.hits  # the kernel this file bans, caught
    mode = ScheduleDependentOps()
    with mode:
        take(w, idx).sum().backward()
    assert not mode.hits


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("variant", [*VARIANTS, "additive", "pairwise"])
def test_no_schedule_dependent_kernel(onto_dna, dna_batch, preset: str, variant: str) -> None:
    cfg = make_config(
        preset, variant=variant if variant in VARIANTS else "binary", attention_heads=2
    )
    _, pairs = batch_pairs(dna_batch.sample, dna_batch.gene, dna_batch.size, onto_dna.num_genes)
    model = build_model(onto_dna, cfg, variant, seed=0, pairs=pairs.numpy())
    assert audit(model, dna_batch, cfg) == []


def test_take_is_indexing(dna_batch) -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, 3, 2, generator=g, dtype=torch.float64, requires_grad=True)
    idx = torch.tensor([[0, 6, 6], [2, 0, 1]])
    up = torch.randn(2, 3, 3, 2, generator=g, dtype=torch.float64)
    assert torch.equal(take(x, idx), x[idx])
    (ga,) = torch.autograd.grad((take(x, idx) * up).sum(), x)
    (gb,) = torch.autograd.grad((x[idx] * up).sum(), x)
    assert torch.allclose(ga, gb, rtol=0, atol=1e-15)
    assert ga[6].abs().sum() > 0 and ga[3].abs().sum() == 0  # repeated row summed, unused zero
