"""Which deletions a deletion rule hides: per genotype, per gene, the terms that never see it.

Under ``torchcell-index-guard`` the deletion of g reaches term t only when pos(g) < n_t (g's
vocabulary position against t's direct-gene count; ``dcellx.nn.deletion``). A gene hidden in
every one of its direct terms leaves no trace in the model's input, and a genotype all of whose
genes are hidden (or not in the build) reaches the model as the wild type. This module lists
those facts for a batch, so a user can check their own records before training.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dcellx.data.genotypes import GenotypeDataset
from dcellx.nn.deletion import visible_incidences
from dcellx.ontology.compiled import CompiledOntology


def _incidences_by_gene(onto: CompiledOntology) -> tuple[np.ndarray, np.ndarray]:
    """(order, ptr): ``order[ptr[g]:ptr[g+1]]`` are the incidence columns of gene g."""
    order = np.argsort(onto.gene_term[0], kind="stable")
    counts = np.bincount(onto.gene_term[0], minlength=onto.num_genes)
    return order, np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def hidden_deletions(
    ds: GenotypeDataset,
    onto: CompiledOntology,
    rule: str = "torchcell-index-guard",
    max_listed: int = 200,
) -> dict[str, Any]:
    """The genotypes of ``ds`` with a deletion that ``rule`` hides somewhere, gene by gene.

    Returns ``genotypes`` (the count of such genotypes), ``wild_type`` (genotypes with no
    visible deletion at all: they share the wild-type input), and ``listed``: the first
    ``max_listed`` of them as ``{"record": 1-based row of ds, "genes": [...], "wild_type": bool,
    "hidden": [{"gene", "position", "terms", "hidden_in": [{"term", "name", "direct_genes"}]}],
    "not_in_build": [...]}``, where ``terms`` counts the gene's direct terms and ``hidden_in``
    those that never see its deletion.
    """
    v = visible_incidences(onto, rule)
    order, ptr = _incidences_by_gene(onto)
    pos = onto.vocabulary_positions()
    n_t = onto.direct_counts()
    index = onto.gene_index
    listed: list[dict[str, Any]] = []
    total = wild = 0
    for row, genes in enumerate(ds.genes):
        hidden, absent, any_visible = [], [], False
        for name in genes:
            g = index.get(name)
            if g is None:
                absent.append(name)
                continue
            cols = order[ptr[g] : ptr[g + 1]]
            shut = cols[~v[cols]]
            any_visible |= len(shut) < len(cols)
            if len(shut):
                terms = onto.gene_term[1][shut]
                hidden.append(
                    {
                        "gene": name,
                        "position": int(pos[g]),
                        "terms": int(len(cols)),
                        "hidden_in": [
                            {
                                "term": onto.term_ids[t],
                                "name": onto.term_names[t],
                                "direct_genes": int(n_t[t]),
                            }
                            for t in terms.tolist()
                        ],
                    }
                )
        wild += not any_visible
        if not hidden:
            continue
        total += 1
        if len(listed) < max_listed:
            listed.append(
                {
                    "record": row + 1,
                    "genes": list(genes),
                    "wild_type": not any_visible,
                    "hidden": hidden,
                    "not_in_build": absent,
                }
            )
    return {"rule": rule, "genotypes": total, "wild_type": wild, "listed": listed}
