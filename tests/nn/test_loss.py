"""``dcell_loss`` and ``alpha_at``: the root and auxiliary squared errors, the sum or mean over
terms, the alpha weighting and its decay, and the L2 penalty over ``DCell.l2_parameters``."""

from __future__ import annotations

import pytest
import torch

from dcellx.nn.config import make_config
from dcellx.nn.dcell import DCell
from dcellx.nn.init import init_term_state
from dcellx.nn.layout import ModelLayout
from dcellx.nn.loss import alpha_at, dcell_loss
from tests.nn.test_equivalence import real_batch


def _outputs(B: int = 5, T1: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    root = torch.randn(B, generator=g, dtype=torch.float64)
    aux = torch.randn(B, T1, generator=g, dtype=torch.float64)
    y = torch.randn(B, generator=g, dtype=torch.float64)
    return root, aux, y


def test_parts_sum_reduction() -> None:
    root, aux, y = _outputs()
    cfg = make_config("paper")  # alpha 0.3, sum over terms
    parts = dcell_loss(root, aux, y, cfg)
    want_root = sum((root[b] - y[b]) ** 2 for b in range(5)) / 5
    want_aux = sum(sum((aux[b, t] - y[b]) ** 2 for b in range(5)) / 5 for t in range(4))
    torch.testing.assert_close(parts.root, want_root)
    torch.testing.assert_close(parts.aux, want_aux)
    torch.testing.assert_close(parts.total, want_root + 0.3 * want_aux)
    assert not parts.root.requires_grad and not parts.aux.requires_grad


def test_mean_reduction_divides_by_the_number_of_terms() -> None:
    root, aux, y = _outputs(T1=7)
    total_sum = dcell_loss(root, aux, y, make_config("paper", aux_reduce="sum"))
    total_mean = dcell_loss(root, aux, y, make_config("paper", aux_reduce="mean"))
    torch.testing.assert_close(total_mean.aux, total_sum.aux / 7)
    torch.testing.assert_close(total_mean.root, total_sum.root)
    torch.testing.assert_close(total_mean.total, total_mean.root + 0.3 * total_sum.aux / 7)


def test_alpha_argument_and_zero_alpha() -> None:
    root, aux, y = _outputs()
    cfg = make_config("paper", alpha=0.3)
    ref = dcell_loss(root, aux, y, cfg)
    other = dcell_loss(root, aux, y, cfg, alpha=2.0)
    torch.testing.assert_close(other.total, ref.root + 2.0 * ref.aux)
    off = dcell_loss(root, aux, y, cfg, alpha=0.0)
    assert float(off.aux) == 0.0 and torch.equal(off.total, off.root)
    none = dcell_loss(root, aux[:, :0], y, cfg)  # an ontology with only a root
    assert float(none.aux) == 0.0 and torch.equal(none.total, none.root)


def test_l2_penalty() -> None:
    root, aux, y = _outputs()
    W1 = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    W2 = torch.randn(6, dtype=torch.float64, requires_grad=True)
    base = dcell_loss(root, aux, y, make_config("paper"))
    cfg = make_config("paper", l2=0.01)
    parts = dcell_loss(root, aux, y, cfg, l2_params=[W1, W2])
    penalty = 0.01 * ((W1 * W1).sum() + (W2 * W2).sum())
    torch.testing.assert_close(parts.total, base.total + penalty)
    parts.total.backward()
    torch.testing.assert_close(W1.grad, 2 * 0.01 * W1.detach())
    torch.testing.assert_close(W2.grad, 2 * 0.01 * W2.detach())
    # no penalty without parameters, or with l2 = 0
    torch.testing.assert_close(dcell_loss(root, aux, y, cfg).total, base.total)
    no_l2 = dcell_loss(root, aux, y, make_config("paper"), l2_params=[W1, W2])
    torch.testing.assert_close(no_l2.total, base.total)


def test_alpha_schedule() -> None:
    constant = make_config("paper", alpha=0.3)
    assert [alpha_at(constant, e) for e in (0, 1, 100)] == [0.3, 0.3, 0.3]
    decay = make_config("paper", alpha=0.4, alpha_decay_epochs=4)
    got = [alpha_at(decay, e) for e in range(7)]
    assert got == pytest.approx([0.4, 0.3, 0.2, 0.1, 0.0, 0.0, 0.0], abs=1e-15)
    assert all(a >= 0 for a in got)


@pytest.mark.parametrize("variant", ["binary", "embedding-deepset"])
def test_l2_parameters_are_the_weights(onto_dna, variant: str) -> None:
    """Every weight matrix is penalised; no bias and no normalisation parameter is."""
    cfg = make_config("paper", variant=variant, depth=2)
    model = DCell(onto_dna, cfg)
    chosen = {id(p) for p in model.l2_parameters()}
    names = {n for n, p in model.named_parameters() if id(p) in chosen}
    assert {"aux_weight", "head_weight", "root_const"} <= names
    assert {f"weights.{i}" for i in range(len(model.weights))} <= names
    assert {f"deep_weights.{i}" for i in range(len(model.deep_weights))} <= names
    for n, _ in model.named_parameters():
        if n.endswith("bias") or n.startswith("norm_"):
            assert n not in names, n
    if variant == "binary":
        assert "genes.gene_w" in names
    else:
        assert {"genes.embedding", "genes.gene_P"} <= names
        assert {n for n in names if n.startswith("genes.phi")} == {
            "genes.phi.0.weight",
            "genes.phi.2.weight",
        }


def test_loss_on_a_real_batch(onto_dna) -> None:
    """DCell's outputs on a real batch: root [B], aux [B, T-1]; sum = (T-1) x mean, and the L2
    part is the squared norm of the term-named weights (padding contributes nothing)."""
    cfg = make_config("paper", l2=1e-3)
    layout = ModelLayout(onto_dna, cfg)
    model = DCell(onto_dna, cfg, layout).double()
    model.load_term_state_dict(init_term_state(layout, 0, dtype=torch.float64))
    batch = real_batch(onto_dna, 16)
    y = batch.y[:, 0].double()
    root, aux = model(batch)
    assert root.shape == (16,) and aux.shape == (16, onto_dna.num_terms - 1)
    parts = dcell_loss(root, aux, y, cfg, l2_params=model.l2_parameters())
    mean = dcell_loss(root, aux, y, make_config("paper", aux_reduce="mean"))
    torch.testing.assert_close(parts.aux, mean.aux * (onto_dna.num_terms - 1))
    state = model.term_state_dict()
    sq = sum(
        float((v * v).sum())
        for k, v in state.items()
        if k.endswith("weight") and not k.startswith("norms.")
    )
    l2_part = float((parts.total - parts.root - cfg.alpha * parts.aux).detach())
    assert l2_part == pytest.approx(1e-3 * sq, rel=1e-9)
