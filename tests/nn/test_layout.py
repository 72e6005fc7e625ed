"""``ModelLayout`` on the real DNA-repair ontology: widths from their rule, neuron numbering,
fan-ins, and the per-stratum bucket plan (every term in one bucket, padding read as zero, every
neuron's output found exactly once, each term's gathered rows its children's neurons)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from dcellx.nn.config import make_config
from dcellx.nn.layout import ModelLayout

CONFIGS = [
    ("paper", {}),
    ("lua", {}),
    ("lua-released", {}),
    ("dcell-new", {}),
    ("paper", {"width_floor": 3, "width_multiplier": 1.0}),
    ("paper", {"width_floor": 1, "width_multiplier": 0.7, "width_basis": "direct"}),
    ("paper", {"variant": "embedding", "embedding_dim": 4}),
    ("paper", {"variant": "embedding-pooled"}),
]


def _id(c) -> str:
    return c[0] + "".join(f"-{k}={v}" for k, v in c[1].items())


def rule_width(floor: int, multiplier: str, rounding, n: int) -> int:
    """max(floor, rounding(multiplier * n)) in exact rational arithmetic."""
    return max(floor, rounding(Fraction(multiplier) * n))


@pytest.mark.parametrize(
    ("preset", "overrides", "rule"),
    [
        ("paper", {}, (20, "0.3", math.ceil)),
        ("lua", {}, (10, "0.2", math.floor)),
        ("paper", {"width_multiplier": 0.5, "width_floor": 4}, (4, "0.5", math.ceil)),
        ("paper", {"width_rounding": "floor", "width_floor": 2}, (2, "0.3", math.floor)),
    ],
)
def test_widths_follow_the_rule(onto_dna, preset, overrides, rule) -> None:
    L = ModelLayout(onto_dna, make_config(preset, **overrides))
    assert L.width.tolist() == [rule_width(*rule, int(n)) for n in onto_dna.contained]


def test_width_basis_direct_counts_annotated_genes(onto_dna) -> None:
    cfg = make_config("paper", width_basis="direct", width_floor=1, width_multiplier=1.0)
    L = ModelLayout(onto_dna, cfg)
    direct = onto_dna.direct_counts()
    assert L.width.tolist() == [max(1, int(n)) for n in direct]
    assert (direct != onto_dna.contained).any()  # the two bases really differ here


def test_paper_widths_of_dna_repair(onto_dna) -> None:
    """The root contains 162 genes: ceil(0.3 * 162) = 49; ceil(0.3 * 69) = 21; the rest floor."""
    L = ModelLayout(onto_dna, make_config("paper"))
    assert int(L.width[onto_dna.root]) == 49
    assert sorted(L.width.tolist()) == [20] * 19 + [21, 49]


@pytest.mark.parametrize(("preset", "overrides"), CONFIGS, ids=[_id(c) for c in CONFIGS])
def test_numbering_and_fan_in(onto_dna, preset, overrides) -> None:
    onto = onto_dna
    cfg = make_config(preset, **overrides)
    L = ModelLayout(onto, cfg)
    T = onto.num_terms
    assert L.offset[0] == 0 and (np.diff(L.offset) == L.width).all()
    assert L.num_neurons == L.width.sum() == len(L.term_of_neuron)
    assert (L.term_of_neuron == np.repeat(np.arange(T), L.width)).all()
    assert (np.diff(onto.strata) >= 0).all() and onto.root == T - 1  # by stratum, root last
    d = cfg.embedding_dim
    for t in range(T):
        kids = onto.children(t)
        n = int(L.direct[t])
        assert L.child_in[t] == sum(int(L.width[c]) for c in kids)
        gene_in = {
            "binary": n,
            "embedding": n * d,
        }.get(cfg.variant, d if n else 0)
        if cfg.gene_layer != "direct":
            gene_in = int(L.width[t]) if n else 0
            assert L.extra_width[t] == gene_in
        assert L.gene_in[t] == gene_in
        extra = int(t == onto.root and cfg.root_extra_input == "constant-one")
        assert L.fan_in[t] == L.child_in[t] + gene_in + extra
    assert L.term_params() == int(((L.fan_in + 1) * L.width).sum())


@pytest.mark.parametrize("ratio", [None, 1.3], ids=["cost-model", "ratio-1.3"])
@pytest.mark.parametrize(("preset", "overrides"), CONFIGS, ids=[_id(c) for c in CONFIGS])
def test_bucket_plan_invariants(onto_dna, preset, overrides, ratio) -> None:
    onto = onto_dna
    L = ModelLayout(onto, make_config(preset, **overrides), ratio)
    assert [p.index for p in L.strata] == list(range(onto.num_strata))
    assert L.strata[-1].terms.tolist() == [onto.root]
    seen_terms: list[int] = []
    padded = 0
    for plan in L.strata:
        terms = plan.terms
        assert (onto.strata[terms] == plan.index).all()
        assert (np.diff(terms) == 1).all()  # a contiguous term range ...
        n0, n1 = plan.neurons
        assert (n0, n1) == (int(L.offset[terms[0]]), int(L.offset[terms[-1] + 1]))  # ... of neurons
        # the stratum's gathered input: the rows of every source, then one zero row
        gathered: list[tuple[int, int]] = []
        for src, rows in plan.sources:
            assert src == -1 or src < plan.index  # children sit in lower strata
            assert (np.diff(rows) > 0).all()
            base = 0 if src == -1 else L.stratum_first_neuron(src)
            gathered += [(src, base + int(r)) for r in rows]
        zero_row = len(gathered)
        outputs = np.concatenate([b.out_pos for b in plan.buckets])
        assert len(outputs) == sum(len(b.terms) * b.out_pad for b in plan.buckets)
        for b in plan.buckets:
            seen_terms += b.terms.tolist()
            padded += len(b.terms) * b.fan_pad * b.out_pad
            assert len(b.in_rows) == len(b.terms) * b.fan_pad
            assert len(b.out_pos) == len(b.terms) * b.out_pad
            fans = [int(L.child_in[t] + L.extra_width[t]) for t in b.terms]
            widths = [int(L.width[t]) for t in b.terms]
            assert b.fan_pad == max(1, max(fans)) and b.out_pad == max(widths)
            if ratio is not None:  # one log-ratio cell: largest < ratio x smallest
                assert max(fans) < ratio * max(1, min(fans)) and max(widths) < ratio * min(widths)
            for j, t in enumerate(b.terms):
                rows = b.in_rows[j * b.fan_pad : (j + 1) * b.fan_pad]
                want = [
                    (int(onto.strata[c]), int(L.offset[c]) + u)
                    for c in onto.children(t)
                    for u in range(int(L.width[c]))
                ]
                e0 = int(L.extra_offset[t])
                want += [(-1, e0 + u) for u in range(int(L.extra_width[t]))]
                assert [gathered[r] for r in rows[: fans[j]]] == want
                assert (rows[fans[j] :] == zero_row).all()  # padding reads the zero row
                out = b.out_pos[j * b.out_pad : (j + 1) * b.out_pad]
                lo = int(L.offset[t])
                assert out[: widths[j]].tolist() == list(range(lo, lo + widths[j]))
                assert (out[widths[j] :] == -1).all()
        # unpad: every stratum neuron read back from its own padded output row, exactly once
        assert sorted(plan.unpad.tolist()) == sorted(set(plan.unpad.tolist()))
        assert (outputs[plan.unpad] == np.arange(n0, n1)).all()
    assert sorted(seen_terms) == list(range(onto.num_terms))
    assert L.padded_dense_params() == padded
    assert padded >= int(((L.child_in + L.extra_width) * L.width).sum())


def test_incidence_elements_grouped_by_gene_and_stratum(onto_dna) -> None:
    """Elements (direct annotation, unit) under key gene * S + stratum: each CSR slice holds
    exactly the units of that gene's terms in that stratum."""
    onto = onto_dna
    L = ModelLayout(onto, make_config("paper"))
    S = onto.num_strata
    assert L.num_elements == int(L.width[L.inc_term].sum())
    assert (L.elem_neuron == L.offset[L.inc_term[L.elem_inc]] + L.elem_unit).all()
    for g in range(onto.num_genes):
        for s in range(S):
            k = g * S + s
            elems = L.gene_elems[L.gene_elem_ptr[k] : L.gene_elem_ptr[k + 1]]
            terms = [t for t in L.inc_term[L.inc_gene == g] if onto.strata[t] == s]
            want = sorted(int(L.offset[t]) + u for t in terms for u in range(int(L.width[t])))
            assert sorted(L.elem_neuron[elems].tolist()) == want
            assert (L.elem_gene[elems] == g).all()
