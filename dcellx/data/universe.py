"""Ontologies whose gene universe is a genotype dataset (a recipe's ``universe = "dataset:..."``).

The ontology layer cannot read genotype data (it sits below it), so callers above the data layer
load ontologies through ``load_ontology_with_datasets`` here, which hands the dataset reader
down.
"""

from __future__ import annotations

from dcellx.data.datasets import load_dataset
from dcellx.ontology import build
from dcellx.ontology.compiled import CompiledOntology


def dataset_genes(name_or_path: str) -> set[str]:
    """Every gene of a dataset's genotypes, all splits together."""
    sets = load_dataset(name_or_path)
    return {g for ds in sets.values() for gs in ds.genes for g in gs}


def load_ontology_with_datasets(
    go: str, *, use_cache: bool = True, **overrides: object
) -> CompiledOntology:
    """``dcellx.ontology.build.load_ontology`` able to read a ``dataset:<name>`` universe."""
    return build.load_ontology(go, use_cache=use_cache, dataset_genes=dataset_genes, **overrides)
