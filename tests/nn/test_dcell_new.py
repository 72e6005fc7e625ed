"""``--preset dcell-new`` (torchcell's May 2025 ``dcell_new.py``): widths, the root's constant
input, the 1 = present gene state and the parameter count, checked against their definitions."""

from __future__ import annotations

import numpy as np
import torch

from dcellx.nn.config import PRESETS, make_config
from dcellx.nn.dcell import DCell
from dcellx.nn.init import init_term_state
from dcellx.nn.layout import ModelLayout
from dcellx.ontology.compiled import CompiledOntology
from tests.nn.test_equivalence import real_batch


def wide_leaves(sizes: list[int]) -> CompiledOntology:
    """Leaves with ``sizes`` direct genes each (disjoint) under a gene-less root."""
    T, G = len(sizes) + 1, sum(sizes)
    terms = np.repeat(np.arange(len(sizes)), sizes)
    return CompiledOntology(
        name="wide",
        term_ids=[f"L{i}" for i in range(len(sizes))] + ["GO:ROOT"],
        term_names=[""] * T,
        gene_ids=[f"G{g:04d}" for g in range(G)],
        strata=np.array([0] * len(sizes) + [1]),
        child_ptr=np.array([0] * T + [len(sizes)]),
        child_idx=np.arange(len(sizes)),
        gene_term=np.stack([np.arange(G), terms]).astype(np.int64),
        contained=np.array([*sizes, G]),
    )


def test_preset_values() -> None:
    cfg = make_config("dcell-new")
    assert cfg.preset == "dcell-new" and set(PRESETS["dcell-new"]) <= set(cfg.model_dump())
    assert (cfg.block, cfg.init, cfg.width_basis, cfg.width_rounding) == (
        "linear-tanh-norm",
        "default",
        "direct",
        "floor",
    )
    assert cfg.gene_state == "present-one" and cfg.root_extra_input == "constant-one"
    assert cfg.alpha == 0.3 and cfg.aux_reduce == "mean" and cfg.deletion_rule == "exact"
    assert make_config("dcell-new", norm="layer", aux_reduce="sum").aux_reduce == "sum"


def test_widths_floor_exact_multiples() -> None:
    """w = max(20, int(0.3 n)) with n direct genes: 0.3 * 70 = 21 (not 20), 0.3 * 99 -> 29."""
    onto = wide_leaves([10, 69, 70, 99, 100])
    w = ModelLayout(onto, make_config("dcell-new")).width
    assert w.tolist() == [20, 20, 21, 29, 30, 20]  # root: no direct gene -> the floor, 20
    # the same floor rounding in the Lua preset: 0.2 * 55 = 11 (a float 11.000000000000002)
    lua = ModelLayout(wide_leaves([55, 60]), make_config("lua")).width
    assert lua.tolist() == [11, 12, 23]  # the Lua root: contained 115 -> 23


def test_root_has_one_constant_input() -> None:
    """terms.<root>.weight has fan_in = children + 1 columns, and its last column acts exactly
    as a second bias: folding it into the bias of a model without the input changes nothing."""
    onto = wide_leaves([30, 40])
    cfg = make_config("dcell-new", norm="none")
    layout = ModelLayout(onto, cfg)
    assert layout.fan_in[onto.root] == 20 + 20 + 1
    state = init_term_state(layout, 3, dtype=torch.float64)
    W = state["terms.GO:ROOT.weight"]
    assert W.shape == (20, 41)
    plain = cfg.model_copy(update={"root_extra_input": "none"})
    folded = dict(state)
    folded["terms.GO:ROOT.weight"] = W[:, :-1]
    folded["terms.GO:ROOT.bias"] = state["terms.GO:ROOT.bias"] + W[:, -1]
    a, b = DCell(onto, cfg).double(), DCell(onto, plain).double()
    a.load_term_state_dict(state)
    b.load_term_state_dict(folded)
    batch = _batch(onto, [[0, 31], [5], [40, 41, 2]])
    with torch.no_grad():
        torch.testing.assert_close(a(batch)[0], b(batch)[0], rtol=0, atol=1e-12)
    assert torch.equal(a.term_state_dict()["terms.GO:ROOT.weight"], W)


def test_present_one_is_the_reparameterised_binary_input() -> None:
    """W s + b with s = 1 - x equals (-W) x + (b + W 1): the paper's bits with flipped columns."""
    onto = wide_leaves([30, 40])
    cfg = make_config("dcell-new", norm="none")
    disrupted = cfg.model_copy(update={"gene_state": "disrupted-one"})
    layout = ModelLayout(onto, cfg)
    state = init_term_state(layout, 5, dtype=torch.float64)
    flipped = dict(state)
    for t in range(len(onto.term_ids) - 1):  # the leaves: [children (none) | genes]
        tid = onto.term_ids[t]
        W = state[f"terms.{tid}.weight"]
        flipped[f"terms.{tid}.weight"] = -W
        flipped[f"terms.{tid}.bias"] = state[f"terms.{tid}.bias"] + W.sum(1)
    a, b = DCell(onto, cfg).double(), DCell(onto, disrupted).double()
    a.load_term_state_dict(state)
    b.load_term_state_dict(flipped)
    batch = _batch(onto, [[0, 31], [5], []])
    with torch.no_grad():
        torch.testing.assert_close(a(batch)[0], b(batch)[0], rtol=0, atol=1e-12)


def test_parameter_count_formula(onto_dna) -> None:
    """sum_t (fan_in_t + 1) w_t + 2 sum_t w_t (norm) + sum_t (w_t + 1) (one head per term),
    fan_in_t = children's widths + |direct(t)| (+1 at the root)."""
    cfg = make_config("dcell-new")
    layout = ModelLayout(onto_dna, cfg)
    w = layout.width
    direct = onto_dna.direct_counts()
    child = np.array([w[onto_dna.children(t)].sum() for t in range(onto_dna.num_terms)])
    fan_in = child + direct
    fan_in[onto_dna.root] += 1
    expected = int(((fan_in + 1) * w).sum() + 2 * w.sum() + (w + 1).sum())
    model = DCell(onto_dna, cfg)
    assert model.num_parameters() == expected
    assert make_config("dcell-new").width_floor == 20
    # the root's extra input is worth exactly its width in parameters
    plain = DCell(onto_dna, cfg.model_copy(update={"root_extra_input": "none"}))
    assert model.num_parameters() - plain.num_parameters() == int(w[onto_dna.root])
    model(real_batch(onto_dna, 4))  # and it runs on real genotypes


def _batch(onto: CompiledOntology, genes: list[list[int]]):
    from dcellx.batch import PerturbationBatch

    B = len(genes)
    return PerturbationBatch(
        B,
        torch.tensor([b for b, gs in enumerate(genes) for _ in gs], dtype=torch.long),
        torch.tensor([g for gs in genes for g in gs], dtype=torch.long),
        torch.zeros(B, 1, dtype=torch.float64),
        torch.arange(B),
        0,
    )
