"""``DCell.num_parameters()`` is counted from the layout (nothing allocated) and is the number of
trainable values the model really has: the term-named state less its running statistics (what it
was computed from before), and every parameter of the term-by-term ``ReferenceDCell``, which has
no bucket padding. On the real DNA-repair ontology, for every preset and variant."""

from __future__ import annotations

import pytest
import torch

from dcellx.nn.config import VARIANTS, make_config
from dcellx.nn.dcell import DCell
from dcellx.nn.layout import ModelLayout
from dcellx.nn.reference import ReferenceDCell

CONFIGS = [
    *[("paper", {"variant": v, "embedding_dim": 3}) for v in VARIANTS],
    ("lua", {}),
    ("lua-released", {}),
    ("torchcell", {}),
    ("dcell-new", {}),
    ("paper", {"norm": "none"}),
    ("paper", {"norm": "layer", "depth": 3}),
    ("dcell-new", {"depth": 2, "norm": "batch-frozen"}),
    ("paper", {"variant": "embedding-deepset", "deepset_hidden": 5, "depth": 2}),
]


def _id(c) -> str:
    return c[0] + "".join(f"-{k}={v}" for k, v in c[1].items())


def term_state_count(model: DCell) -> int:
    """The count as it was taken from the full term-named state."""
    state = model.term_state_dict()
    return sum(v.numel() for k, v in state.items() if "running" not in k and k != "norm_steps")


@pytest.mark.parametrize(("preset", "overrides"), CONFIGS, ids=[_id(c) for c in CONFIGS])
def test_count_from_the_layout_is_the_models(onto_dna, preset, overrides) -> None:
    cfg = make_config(preset, **overrides)
    layout = ModelLayout(onto_dna, cfg)
    model = DCell(onto_dna, cfg, layout)
    n = model.num_parameters()
    assert n == layout.num_parameters() == term_state_count(model)
    reference = ReferenceDCell(onto_dna, cfg, layout)
    assert n == sum(p.numel() for p in reference.parameters())
    # the packed engine holds the same values plus its bucket padding, never fewer
    assert sum(p.numel() for p in model.parameters()) >= n


def test_count_moves_with_the_architecture(onto_dna) -> None:
    """Each lever adds what it should: a second layer adds w_t^2 + w_t (weights, bias) and 2 w_t
    (its norm) per term; dropping the norm removes 2 w_t per term."""
    cfg = make_config("paper")
    w = ModelLayout(onto_dna, cfg).width.astype(int)
    one = ModelLayout(onto_dna, cfg).num_parameters()
    two = ModelLayout(onto_dna, cfg.model_copy(update={"depth": 2})).num_parameters()
    bare = ModelLayout(onto_dna, cfg.model_copy(update={"norm": "none"})).num_parameters()
    assert two - one == int((w * w + w + 2 * w).sum())
    assert one - bare == int(2 * w.sum())
    with torch.no_grad():  # and a count is not a function of the weights' values
        model = DCell(onto_dna, cfg)
        before = model.num_parameters()
        for p in model.parameters():
            p.fill_(1.0)
        assert model.num_parameters() == before
