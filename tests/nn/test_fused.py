"""The fused engine (``dcellx.nn.fused``): the same function and gradients as the autograd engine,
buffers that are reused but never shared between live graphs, and the configurations it leaves
to autograd. (Both engines are also compared with the reference loop in test_equivalence.py.)"""

from __future__ import annotations

import pytest
import torch

from dcellx.nn.config import make_config
from dcellx.nn.dcell import DCell
from dcellx.nn.fused import fused_obstacle
from dcellx.nn.init import init_term_state
from dcellx.nn.layout import ModelLayout
from dcellx.nn.loss import dcell_loss
from tests.nn.test_equivalence import random_batch, real_batch

CONFIGS = [
    ("paper", {}),
    ("torchcell", {}),
    ("dcell-new", {}),
    ("lua", {}),
    ("lua-released", {}),
    ("paper", {"variant": "embedding", "embedding_dim": 4}),
    ("paper", {"variant": "embedding-attention", "embedding_dim": 4}),
    ("paper", {"norm": "none", "aux_input": "pre-norm"}),
    ("torchcell", {"aux_input": "pre-norm", "aux_head": "tanh-linear"}),
    ("paper", {"norm": "batch-frozen", "bn_freeze_after": 1}),
]


def _model(onto, preset: str, seed: int = 0, engine: str = "fused", **kw) -> DCell:
    cfg = make_config(preset, **kw)
    layout = ModelLayout(onto, cfg)
    model = DCell(onto, cfg, layout, engine).double()
    model.load_term_state_dict(init_term_state(layout, seed, dtype=torch.float64))
    return model


def _step(model: DCell, batch) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """One training forward and backward: (root, aux, gradient of every parameter)."""
    model.zero_grad(set_to_none=True)
    root, aux = model(batch)
    dcell_loss(root, aux, batch.y[:, 0].double(), model.cfg).total.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return root.detach(), aux.detach(), grads


@pytest.mark.parametrize("preset,kw", CONFIGS)
def test_fused_equals_the_autograd_engine(onto_dna, preset: str, kw: dict) -> None:
    fused, plain = _model(onto_dna, preset, **kw), _model(onto_dna, preset, engine="autograd", **kw)
    assert (fused.engine.name, fused.engine_note, plain.engine.name) == ("fused", None, "autograd")
    assert fused_obstacle(fused) is None
    batch = real_batch(onto_dna, 24)
    for _ in range(2):  # the second step starts from the updated running statistics
        r1, a1, g1 = _step(fused, batch)
        r2, a2, g2 = _step(plain, batch)
        assert torch.allclose(r1, r2, rtol=1e-10, atol=1e-12)
        assert torch.allclose(a1, a2, rtol=1e-10, atol=1e-12)
        assert g1.keys() == g2.keys()
        for name in g1:
            assert torch.allclose(g1[name], g2[name], rtol=1e-8, atol=1e-11), name
    theirs = dict(fused.named_buffers())
    for name in ("running_mean", "running_var", "norm_steps"):
        assert torch.allclose(dict(plain.named_buffers())[name], theirs[name], rtol=1e-12), name
    fused.eval()
    plain.eval()
    with torch.no_grad():
        assert torch.allclose(fused(batch)[0], plain(batch)[0], rtol=1e-10, atol=1e-12)


def test_interleaved_forwards_keep_their_own_buffers(onto_dna) -> None:
    """Two training forwards before either backward, and an evaluation forward in between,
    give each backward the gradients it would have had alone."""
    model = _model(onto_dna, "paper")
    b1, b2 = real_batch(onto_dna, 16), random_batch(onto_dna, B=8, k=6)
    alone = [_step(model, b)[2] for b in (b1, b2)]
    model.zero_grad(set_to_none=True)
    y1, y2 = b1.y[:, 0].double(), b2.y[:, 0].double()
    loss1 = dcell_loss(*model(b1), y1, model.cfg).total
    loss2 = dcell_loss(*model(b2), y2, model.cfg).total
    with torch.no_grad():
        model(random_batch(onto_dna, B=5, k=3))  # an evaluation in between
    loss2.backward()
    g2 = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    loss1.backward()
    g1 = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    for got, want in ((g1, alone[0]), (g2, alone[1])):
        for name in want:
            assert torch.allclose(got[name], want[name], rtol=1e-10, atol=1e-13), name


def test_buffers_are_reused_across_steps(onto_dna) -> None:
    model = _model(onto_dna, "torchcell")
    batch = real_batch(onto_dna, 16)
    _step(model, batch)
    (first,) = model.slot_buffers.sets
    ptr = first.H.data_ptr()
    for _ in range(3):
        _step(model, batch)
    assert model.slot_buffers.sets == [first] and first.H.data_ptr() == ptr


def test_one_backward_per_forward(onto_dna) -> None:
    model = _model(onto_dna, "paper")
    batch = real_batch(onto_dna, 8)
    loss = dcell_loss(*model(batch), batch.y[:, 0].double(), model.cfg).total
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="one backward per forward"):
        loss.backward()


def test_training_on_one_sample_is_refused_like_torch(onto_dna) -> None:
    model = _model(onto_dna, "paper")
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        model(real_batch(onto_dna, 1))
    model.eval()
    with torch.no_grad():
        assert model(real_batch(onto_dna, 1))[0].shape == (1,)


def test_kept_states_equal_the_autograd_engine(onto_dna) -> None:
    fused, plain = _model(onto_dna, "paper"), _model(onto_dna, "paper", engine="autograd")
    batch = real_batch(onto_dna, 12)
    for m in (fused, plain):
        m.keep_states = True
        with torch.no_grad():
            m(batch)
    assert torch.allclose(fused.last_states, plain.last_states, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kw,why", [({"norm": "layer"}, "norm 'layer'"), ({"depth": 2}, "depth 2")])
def test_configurations_left_to_autograd(onto_dna, kw: dict, why: str) -> None:
    model = _model(onto_dna, "paper", **kw)
    assert model.engine.name == "autograd"
    assert model.engine_note == f"the fused engine does not support {why}; running on autograd"


def test_an_unknown_engine_is_refused(onto_dna) -> None:
    with pytest.raises(ValueError, match="engine 'jit': not one of fused, autograd"):
        _model(onto_dna, "paper", engine="jit")


def test_a_trace_runs_on_autograd(onto_dna) -> None:
    model = _model(onto_dna, "paper")
    model.trace = []
    assert fused_obstacle(model) == "a trace"
    model(real_batch(onto_dna, 8))
    assert len(model.trace) == onto_dna.num_strata


def test_autocast_runs_on_autograd(onto_dna) -> None:
    model = _model(onto_dna, "paper").float()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert fused_obstacle(model) == "autocast"
        root, _ = model(real_batch(onto_dna, 8))
    assert root.shape == (8,) and torch.isfinite(root).all() and fused_obstacle(model) is None
