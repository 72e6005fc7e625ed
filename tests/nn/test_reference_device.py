"""The reference loop runs on whatever device the model is on: its index tensors are buffers that
``.to(device)`` moves, so every tensor its forward and backward touch is on the model's device.

Checked on the ``meta`` device (no data, no CPU fallback): a CPU tensor meeting a meta one is
recorded by a dispatch mode, which sees every operator call with its tensor arguments.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from dcellx.nn.config import VARIANTS, make_config
from dcellx.nn.init import init_term_state
from dcellx.nn.layout import ModelLayout
from dcellx.nn.loss import dcell_loss
from dcellx.nn.reference import ReferenceDCell
from tests.nn.test_equivalence import real_batch


class DevicesSeen(TorchDispatchMode):
    """Every device of a tensor argument or result of an operator, with the operator's name."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[tuple[str, str]] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves((args, kwargs, out)):
            if isinstance(t, torch.Tensor):
                self.seen.add((t.device.type, str(func)))
        return out


CONFIGS = [{"variant": v} for v in VARIANTS] + [
    {"gene_layer": "masked-layer"},
    {"gene_layer": "dense-layer"},
    {"deletion_rule": "torchcell-index-guard", "gene_state": "present-one",
     "root_extra_input": "constant-one"},
    {"depth": 2, "norm": "layer"},
]  # fmt: skip


@pytest.mark.parametrize("levers", CONFIGS, ids=lambda d: "-".join(map(str, d.values())))
def test_forward_and_backward_touch_only_the_models_device(onto_dna, levers) -> None:
    cfg = make_config("paper", **levers)
    ref = ReferenceDCell(onto_dna, cfg).to("meta")
    assert {b.device.type for b in ref.buffers()} == {"meta"}
    batch = real_batch(onto_dna)
    x = batch.dense(onto_dna.num_genes, torch.float32).to("meta")
    y = batch.y[:, 0].to("meta")
    with DevicesSeen() as mode:
        root, aux = ref(x)
        loss = dcell_loss(root, aux, y, cfg, l2_params=ref.l2_parameters()).total
        loss.backward()
    off = sorted(op for dev, op in mode.seen if dev != "meta")
    assert not off, off
    assert root.shape == (batch.size,) and aux.shape == (batch.size, onto_dna.num_terms - 1)
    assert all(p.grad is not None and p.grad.device.type == "meta" for p in ref.terms.parameters())


def test_index_buffers_move_with_the_model_and_stay_out_of_the_state_dict(onto_dna) -> None:
    """The term-named state is what it was (``init_term_state`` loads strictly) and a model cast
    to float64 keeps indices as integers and visibility bits exact."""
    cfg = make_config("paper", deletion_rule="torchcell-index-guard")
    layout = ModelLayout(onto_dna, cfg)
    ref = ReferenceDCell(onto_dna, cfg, layout).double()
    ref.load_state_dict(init_term_state(layout, 0, dtype=torch.float64), strict=True)
    assert not {"direct_gene", "direct_visible"} & set(ref.state_dict())
    assert ref.direct_gene.dtype == torch.int64 and ref.direct_visible.dtype == torch.float64
    assert ref.direct_gene.tolist() == layout.inc_gene.tolist()
    assert ref.direct_visible.tolist() == layout.inc_visible.astype(float).tolist()
    assert 0 < ref.direct_visible.sum() < len(ref.direct_visible)  # the guard hides some
    assert ref.gene_ptr == layout.gene_ptr.tolist()
