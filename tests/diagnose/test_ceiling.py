"""The identifiability ceiling on hand-made cases and on the real DNA-repair training data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dcellx.data.datasets import load_dataset
from dcellx.data.genotypes import GenotypeDataset
from dcellx.diagnose.ceiling import distinct_effective_inputs, identifiability_ceiling
from dcellx.errors import ConfigError


def dataset(genes: list[tuple[str, ...]], y: list[float]) -> GenotypeDataset:
    return GenotypeDataset(genes, np.array(y)[:, None], ["v"], "mem")


def test_hand_made_ceiling(tiny_onto) -> None:
    # Visible sets: {A,B} | {A} {A} (X unknown, so s1 collides with s2) | {} {} | {C,D}.
    ds = dataset(
        [("A", "B"), ("A", "X"), ("A",), ("X", "Y"), ("Z",), ("C", "D")],
        [1.0, 2.0, 4.0, 0.0, 3.0, 5.0],
    )
    c = identifiability_ceiling(ds, tiny_onto)
    # Group means: {A} -> 3, {} -> 1.5; residuals 0, -1, 1, -1.5, 1.5, 0.
    ss_within, ss_total = 6.5, 17.5
    assert c["samples"] == 6
    assert c["distinct_inputs"] == 4
    assert c["wildtype_inputs"] == 2
    assert c["shared_input_samples"] == 4 and c["largest_group"] == 2
    assert c["unknown_genes"] == 3 and c["unknown_gene_occurrences"] == 4
    assert c["unknown_gene_names"] == ["X", "Y", "Z"]
    assert c["ceiling_mse"] == pytest.approx(ss_within / 6)
    assert c["ceiling_pearson"] == pytest.approx(math.sqrt(1 - ss_within / ss_total))
    fitted = np.array([1.0, 3.0, 3.0, 1.5, 1.5, 5.0])
    assert c["ceiling_pearson"] == pytest.approx(np.corrcoef(ds.values[:, 0], fitted)[0, 1])
    assert c["ceiling_pearson"] < 1


def test_gene_order_does_not_matter_and_column_selects(tiny_onto) -> None:
    values = np.array([[1.0, 0.0], [3.0, 0.0], [2.0, 1.0]])
    ds = GenotypeDataset([("A", "C"), ("C", "A"), ("D",)], values, ["p", "q"], "m")
    c = identifiability_ceiling(ds, tiny_onto, column=0)
    assert c["distinct_inputs"] == 2 and c["ceiling_mse"] == pytest.approx(2 / 3)
    # Both groups have mean 2: the best prediction is constant, so Pearson is undefined.
    assert c["ceiling_pearson"] is None
    q = identifiability_ceiling(ds, tiny_onto, column=1)
    assert q["phenotype"] == "q" and q["ceiling_pearson"] == pytest.approx(1.0)
    with pytest.raises(ConfigError):
        identifiability_ceiling(ds, tiny_onto, column=2)


def test_degenerate_cases_are_nan_safe(tiny_onto) -> None:
    singletons = identifiability_ceiling(dataset([("A",), ("B",), ("C",)], [1, 2, 4]), tiny_onto)
    assert singletons["ceiling_pearson"] == 1.0 and singletons["ceiling_mse"] == 0.0
    constant = identifiability_ceiling(dataset([("A",), ("A", "X"), ("C",)], [2, 2, 2]), tiny_onto)
    assert constant["ceiling_pearson"] is None and constant["ceiling_mse"] == 0.0
    # Everything wild type: any model predicts one constant, Pearson is undefined.
    blind = identifiability_ceiling(dataset([("X",), ("Y",)], [0.0, 1.0]), tiny_onto)
    assert blind["ceiling_pearson"] is None and blind["ceiling_mse"] == pytest.approx(0.25)
    assert blind["wildtype_inputs"] == 2 and blind["distinct_inputs"] == 1


def test_dna_repair_training_data_is_fully_identifiable(onto_dna, onto_2017) -> None:
    ds = load_dataset("dcell-dna-repair")["train"]
    for onto in (onto_dna, onto_2017):
        c = identifiability_ceiling(ds, onto)  # speed (<= 1 s): ceiling_s in bench_ontology
        # Every gene of the DNA-repair data is an input of both ontologies: no collisions.
        assert c["samples"] == len(ds) == 8783
        assert c["unknown_genes"] == 0 and c["wildtype_inputs"] == 0
        assert c["distinct_inputs"] == 8783
        assert c["ceiling_pearson"] == 1.0 and c["ceiling_mse"] == 0.0


def test_invisible_genes_lower_the_ceiling_on_real_data(onto_dna) -> None:
    """Hiding genes (as an ontology lacking them would) merges genotypes and caps the fit."""
    ds = load_dataset("dcell-dna-repair")["train"]
    hidden = set(sorted({g for gs in ds.genes for g in gs})[::2])
    masked = GenotypeDataset(
        [tuple(g + "-hidden" if g in hidden else g for g in gs) for gs in ds.genes],
        ds.values,
        ds.phenotypes,
        "masked",
    )
    c = identifiability_ceiling(masked, onto_dna)
    assert c["unknown_genes"] == len(hidden)
    assert c["distinct_inputs"] < len(ds) and c["wildtype_inputs"] > 0
    assert 0 < c["ceiling_pearson"] < 1


GUARD = "torchcell-index-guard"


def test_index_guard_groups_genotypes_with_the_same_visible_deletions(tiny_onto) -> None:
    """tiny: T0 = {A, B} (n 2), T1 = {C} (n 1), root T2 = {D} (n 1); positions A0 B1 C2 D3.

    Under the guard only A and B are ever seen (0, 1 < 2); C (2 < 1) and D (3 < 1) are hidden in
    every term they belong to. So {A, C} and {A, D} are the input {A}, and {C}, {D} wild type.
    """
    ds = dataset([("A", "C"), ("A", "D"), ("C",), ("D",), ("B",), ("A", "B")], [1, 3, 0, 2, 5, 7])
    exact = identifiability_ceiling(ds, tiny_onto)
    guard = identifiability_ceiling(ds, tiny_onto, deletion_rule=GUARD)
    assert exact["distinct_inputs"] == 6 and exact["ceiling_pearson"] == 1.0
    assert exact["hidden_genes"] == 0
    assert guard["deletion_rule"] == GUARD
    assert guard["distinct_inputs"] == 4  # {A} x2, {} x2, {B}, {A, B}
    assert guard["wildtype_inputs"] == 2 and guard["largest_group"] == 2
    assert guard["hidden_genes"] == 2 and guard["hidden_gene_occurrences"] == 4
    assert guard["unknown_genes"] == 0  # hidden is not unknown: the genes are in the ontology
    # group means {A}: 2, {}: 1; residuals -1, 1, -1, 1 -> within 4 of total SS
    y = ds.values[:, 0]
    ss_total = float(((y - y.mean()) ** 2).sum())
    assert guard["ceiling_mse"] == pytest.approx(4 / 6)
    assert guard["ceiling_pearson"] == pytest.approx(math.sqrt(1 - 4 / ss_total))
    assert guard["ceiling_pearson"] < exact["ceiling_pearson"]
    assert distinct_effective_inputs(ds, tiny_onto) == 6
    assert distinct_effective_inputs(ds, tiny_onto, GUARD) == 4


def test_index_guard_merges_real_genotypes(onto_dna) -> None:
    """On the DNA-repair training data the guard hides most deletions: far fewer distinct inputs
    among the first 32 genotypes (the overfit batch) and over the whole split."""
    ds = load_dataset("dcell-dna-repair")["train"]
    batch = ds.subset(slice(0, 32))
    assert distinct_effective_inputs(batch, onto_dna) == 32
    guarded = distinct_effective_inputs(batch, onto_dna, GUARD)
    assert 1 <= guarded < 32
    c = identifiability_ceiling(ds, onto_dna, deletion_rule=GUARD)
    assert c["distinct_inputs"] < len(ds) and c["hidden_genes"] > 0
    assert c["ceiling_pearson"] is not None and c["ceiling_pearson"] < 1
    with pytest.raises(ConfigError):
        identifiability_ceiling(ds, onto_dna, deletion_rule="approximately")
