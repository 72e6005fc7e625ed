"""Synthetic ontologies for unit and scale tests (real GO is used everywhere else)."""

from __future__ import annotations

import numpy as np

from dcellx.ontology.compiled import CompiledOntology, compile_graph
from dcellx.ontology.graph import OntologyGraph


def random_ontology(
    n_terms: int = 30, n_genes: int = 60, seed: int = 0, max_parents: int = 2
) -> CompiledOntology:
    """A random rooted DAG: term i > 0 picks 1..max_parents parents among terms < i (term 0 is the
    root), every gene is annotated to 1-3 random terms, biased towards later (deeper) terms."""
    rng = np.random.default_rng(seed)
    ids = [f"T:{i:05d}" for i in range(n_terms)]
    parents: dict[str, set[str]] = {ids[0]: set()}
    for i in range(1, n_terms):
        k = int(rng.integers(1, max_parents + 1))
        parents[ids[i]] = {ids[j] for j in rng.choice(i, size=min(k, i), replace=False)}
    rows = []
    p = np.arange(1, n_terms + 1, dtype=float)
    p /= p.sum()
    for g in range(n_genes):
        for t in rng.choice(n_terms, size=int(rng.integers(1, 4)), replace=False, p=p):
            rows.append((f"G{g:05d}", ids[t], "IDA", ""))
    graph = OntologyGraph(ids[0], {t: t for t in ids}, {t: "" for t in ids}, parents, rows)
    return compile_graph(graph, f"synthetic-{n_terms}-{n_genes}-s{seed}", meta={"synthetic": True})
