"""The best weights held in memory: ``term_state`` reads them by GO term without disturbing the
live model (its weights, buffers and the tensors its optimiser steps stay as they were)."""

from __future__ import annotations

import torch

from dcellx.nn.config import make_config
from dcellx.nn.dcell import DCell
from dcellx.nn.init import init_term_state
from dcellx.nn.layout import ModelLayout
from dcellx.train.best import BestWeights
from tests.nn.test_equivalence import real_batch


def test_term_state_of_the_best_weights_leaves_the_live_model_alone(onto_dna) -> None:
    cfg = make_config("paper")
    layout = ModelLayout(onto_dna, cfg)
    model = DCell(onto_dna, cfg, layout)
    model.load_term_state_dict(init_term_state(layout, 0))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    best = BestWeights(model)
    best.capture()
    expected = model.term_state_dict()
    for _ in range(3):  # the live model moves on: weights, running statistics, step count
        root, _aux = model(real_batch(onto_dna, 8))
        opt.zero_grad()
        root.square().mean().backward()
        opt.step()
    live = {k: v.clone() for k, v in model.state_dict().items()}
    got = best.term_state()
    assert got.keys() == expected.keys()
    assert all(torch.equal(got[k], expected[k]) for k in expected)
    assert not torch.equal(got["head.weight"].view(-1), model.head_weight.detach())
    now = model.state_dict()
    assert all(torch.equal(now[k], live[k]) for k in live)
    # the optimiser's tensors are the model's, holding the live values
    params = list(model.parameters())
    assert all(p is q for p, q in zip(opt.param_groups[0]["params"], params, strict=True))
    root, _aux = model(real_batch(onto_dna, 8))  # and the model still trains
    root.square().mean().backward()
    opt.step()
    assert not torch.equal(model.head_weight.detach(), live["head_weight"])
