"""The deletion rule on a hand-made ontology: which (term, gene) deletions each rule lets through,
and what an invisible deletion does to the model (nothing, in that term)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dcellx.batch import PerturbationBatch
from dcellx.nn.config import make_config
from dcellx.nn.deletion import effective_deletions, visible_incidences
from dcellx.nn.layout import ModelLayout
from dcellx.ontology.compiled import CompiledOntology
from tests.nn.equivalence import fast_outputs

GUARD = "torchcell-index-guard"


def hand_made(vocabulary: list[str] | None = None) -> CompiledOntology:
    """T0 = {A, B, C} and T1 = {C, D} are leaves under the root T2 = {A, E} (direct genes).

    Direct counts: T0 3, T1 2, T2 2. Gene indices A=0 .. E=4.
    """
    meta = {"vocabulary": {"genes": vocabulary}} if vocabulary else {}
    return CompiledOntology(
        name="hand-made",
        term_ids=["T0", "T1", "T2"],
        term_names=["zero", "one", "root"],
        gene_ids=["A", "B", "C", "D", "E"],
        strata=np.array([0, 0, 1]),
        child_ptr=np.array([0, 0, 0, 2]),
        child_idx=np.array([0, 1]),
        # (gene, term) sorted by term then gene
        gene_term=np.array([[0, 1, 2, 2, 3, 0, 4], [0, 0, 0, 1, 1, 2, 2]]),
        contained=np.array([3, 2, 5]),
        meta=meta,
    )


def pairs(onto: CompiledOntology, mask: np.ndarray) -> set[tuple[str, str]]:
    g, t = onto.gene_term
    return {(onto.term_ids[t[i]], onto.gene_ids[g[i]]) for i in np.nonzero(mask)[0]}


def test_exact_rule_sees_every_direct_deletion() -> None:
    onto = hand_made()
    assert visible_incidences(onto, "exact").all()


def test_guard_without_vocabulary_compares_the_gene_index() -> None:
    # positions = gene indices A0 B1 C2 D3 E4; a deletion of g counts in t iff pos(g) < n_t
    onto = hand_made()
    assert onto.vocabulary_positions().tolist() == [0, 1, 2, 3, 4]
    seen = pairs(onto, visible_incidences(onto, GUARD))
    # T0 (n=3): A0 B1 C2 all < 3; T1 (n=2): C2, D3 not < 2; T2 (n=2): A0 < 2, E4 not
    assert seen == {("T0", "A"), ("T0", "B"), ("T0", "C"), ("T2", "A")}


def test_guard_uses_the_recipe_vocabulary_positions() -> None:
    # a genome-wide vocabulary with genes the ontology lacks shifts every position
    onto = hand_made(vocabulary=["A", "Q", "B", "C", "R", "D", "E"])
    assert onto.vocabulary_positions().tolist() == [0, 2, 3, 5, 6]
    seen = pairs(onto, visible_incidences(onto, GUARD))
    # T0: A0 B2 < 3, C3 not; T1: nothing (C3, D5); T2: A0 only
    assert seen == {("T0", "A"), ("T0", "B"), ("T2", "A")}
    # C is deleted in no term at all: it is as invisible as a gene the ontology lacks
    assert effective_deletions(onto, [2], GUARD).size == 0
    assert effective_deletions(onto, [2], "exact").tolist() == [2, 3]


def test_unknown_rule_is_refused() -> None:
    with pytest.raises(ValueError):
        visible_incidences(hand_made(), "nearly-exact")


def test_layout_perturbation_lists_hold_visible_incidences_only() -> None:
    onto = hand_made()
    exact = ModelLayout(onto, make_config("dcell-new"))
    guard = ModelLayout(onto, make_config("dcell-new", deletion_rule=GUARD))
    # per gene: incidences a deletion touches (A: T0 and T2; C: T0 only under the guard)
    assert np.diff(exact.gene_inc_ptr).tolist() == [2, 1, 2, 1, 1]
    assert np.diff(guard.gene_inc_ptr).tolist() == [2, 1, 1, 0, 0]
    # the wild-type structure (every element) is the same under both rules
    assert guard.num_elements == exact.num_elements
    assert (guard.elem_gene == exact.elem_gene).all()


def _batch(genes: list[list[int]]) -> PerturbationBatch:
    B = len(genes)
    sample = [b for b, gs in enumerate(genes) for _ in gs]
    return PerturbationBatch(
        B,
        torch.tensor(sample, dtype=torch.long),
        torch.tensor([g for gs in genes for g in gs], dtype=torch.long),
        torch.zeros(B, 1, dtype=torch.float64),
        torch.arange(B),
        0,
    )


@pytest.mark.parametrize("variant", ["binary", "embedding", "embedding-attention"])
def test_hidden_deletions_look_wild_type(variant: str) -> None:
    """Under the guard, deleting D or E (never visible) is the wild type, deleting C is only
    seen in T0; under the exact rule all three differ from the wild type."""
    onto = hand_made()
    # eval-mode-like determinism: no norm, so each sample's output depends on itself only
    guard = make_config("dcell-new", variant=variant, norm="none", deletion_rule=GUARD)
    exact = guard.model_copy(update={"deletion_rule": "exact"})
    batch = _batch([[], [3], [4], [3, 4], [2], [2, 3]])
    root_g, aux_g = fast_outputs(onto, guard, batch)
    root_e, _ = fast_outputs(onto, exact, batch)
    wild = root_g[0]
    assert torch.allclose(root_g[1:4], wild.expand(3), rtol=0, atol=1e-12)
    assert not torch.isclose(root_g[4], wild)
    assert torch.allclose(root_g[5], root_g[4], rtol=0, atol=1e-12)  # D adds nothing
    # C's deletion shows in T0's head and not in T1's (aux columns: T0, T1)
    assert not torch.isclose(aux_g[4, 0], aux_g[0, 0])
    assert torch.isclose(aux_g[4, 1], aux_g[0, 1], rtol=0, atol=1e-12)
    assert not torch.isclose(root_e[1], root_e[0]) and not torch.isclose(root_e[2], root_e[0])
