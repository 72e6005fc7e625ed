"""Coverage (terms reached per gene) and the paper preset's size, by hand and on real GO."""

from __future__ import annotations

import numpy as np

from dcellx.data.datasets import load_dataset
from dcellx.data.genotypes import GenotypeDataset
from dcellx.diagnose.capacity import capacity
from dcellx.diagnose.coverage import coverage
from dcellx.ontology.reach import contained_counts, parents_csr, term_gene_reach
from dcellx.ontology.stats import ontology_stats


def test_reach_and_parents_by_hand(tiny_onto) -> None:
    reach = term_gene_reach(tiny_onto)
    assert reach.astype(int).tolist() == [[1, 1, 0, 0], [0, 0, 1, 0], [1, 1, 1, 1]]
    ptr, idx = parents_csr(tiny_onto)
    assert ptr.tolist() == [0, 1, 2, 2] and idx.tolist() == [2, 2]
    assert term_gene_reach(tiny_onto, np.array([3, 0])).astype(int).tolist() == [
        [0, 1],
        [0, 0],
        [1, 1],
    ]


def test_reach_reproduces_compiled_contained(onto_dna, onto_2017) -> None:
    """Reach recomputed from the arrays agrees with the graph-based ``contained`` of the build."""
    for onto in (onto_dna, onto_2017):
        assert np.array_equal(contained_counts(onto), onto.contained)


def test_coverage_by_hand(tiny_onto) -> None:
    ds = GenotypeDataset([("A", "C"), ("D", "X")], np.zeros((2, 1)), ["v"], "mem")
    c = coverage(ds, {"tiny": tiny_onto})["tiny"]
    # A -> T0, T2; C -> T1, T2; D -> T2; X -> nothing.
    assert c["genes"] == 4 and c["visible_genes"] == 3 and c["visible_fraction"] == 0.75
    assert c["terms_reached_mean"] == 1.25 and c["terms_reached_median"] == 1.5
    assert c["terms_reached_max"] == 2 and c["genes_reaching_0"] == 1
    assert c["samples_fully_visible"] == 1


def test_coverage_real(onto_dna, onto_2017) -> None:
    ds = load_dataset("dcell-dna-repair")["train"]
    cov = coverage(ds, {"dna-repair": onto_dna, "2017": onto_2017})
    for c in cov.values():
        assert c["visible_fraction"] == 1.0 and c["genes_reaching_0"] == 0
        assert 1 <= c["terms_reached_median"] <= c["terms_reached_max"]
    assert cov["2017"]["terms_reached_max"] <= onto_2017.num_terms


def test_capacity_by_hand(tiny_onto) -> None:
    cap = capacity(tiny_onto)
    # All widths 20; fan-in 2, 1, 20 + 20 + 1.
    assert cap["params_linear"] == (2 * 20 + 20) + (1 * 20 + 20) + (41 * 20 + 20)
    assert cap["params_batchnorm"] == 120 and cap["params_aux"] == 63
    assert cap["params"] == 1123 and cap["neurons"] == 60
    assert cap["neurons_per_stratum"] == [40, 20]
    assert cap["width_histogram"]["<=20"] == 3


def test_capacity_matches_ontology_stats(onto_2017) -> None:
    cap, stats = capacity(onto_2017), ontology_stats(onto_2017)
    assert cap["params"] == stats["params_paper"] and cap["neurons"] == stats["neurons"]
    assert sum(cap["neurons_per_stratum"]) == cap["neurons"]
    assert len(cap["neurons_per_stratum"]) == onto_2017.num_strata
    assert sum(cap["width_histogram"].values()) == onto_2017.num_terms
