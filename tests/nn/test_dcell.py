"""``DCell`` initialises itself from a seed: the state of ``init_term_state``, shared with the
reference loop, so a bare ``DCell(onto, cfg)`` is a working model rather than an all-zero one."""

from __future__ import annotations

import torch

from dcellx.nn.config import make_config
from dcellx.nn.dcell import DCell
from dcellx.nn.init import init_term_state
from dcellx.nn.layout import ModelLayout
from tests.nn.test_equivalence import real_batch


def test_a_dcell_starts_from_its_seed(onto_dna) -> None:
    cfg = make_config("paper")
    state = DCell(onto_dna, cfg, seed=3).term_state_dict()
    drawn = init_term_state(ModelLayout(onto_dna, cfg), 3)
    assert state.keys() == drawn.keys()
    assert all(torch.equal(state[k], drawn[k]) for k in state)
    other = DCell(onto_dna, cfg, seed=4).term_state_dict()
    assert not torch.equal(other["head.weight"], state["head.weight"])


def test_a_bare_dcell_computes_a_varying_prediction(onto_dna) -> None:
    model = DCell(onto_dna, make_config("paper"))
    model.eval()
    with torch.no_grad():
        root, aux = model(real_batch(onto_dna, 16))
    assert root.std() > 0 and aux.abs().sum() > 0
