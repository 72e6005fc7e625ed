"""The identifiability ceiling on hand-made cases and on the real DNA-repair training data."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from dcellx.data.genotypes import GenotypeDataset, load_dataset
from dcellx.diagnose.ceiling import identifiability_ceiling
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
        t0 = time.perf_counter()
        c = identifiability_ceiling(ds, onto)
        assert time.perf_counter() - t0 < 1.0
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
