"""Which deletions a term sees: the ``deletion_rule`` of ``ModelConfig``.

A genotype deletes a set D of genes. Gene g enters term t's input only if g is directly
annotated to t (an incidence (g, t) of ``onto.gene_term``). The rule decides, once per
incidence, whether a deletion of g is *visible* in t:

* ``exact``: every incidence is visible, v(g, t) = 1;
* ``torchcell-index-guard``: torchcell's ``dcell_new.py`` writes the deletion of g into t's
  gene-state vector only when ``gene_idx < len(genes)``, i.e.

      v(g, t) = [ pos(g) < n_t ],   n_t = |direct(t)|,

  where pos(g) is g's position in the sorted gene vocabulary
  (``CompiledOntology.vocabulary_positions()``: torchcell's 6,607-gene list when the recipe
  records one, else the gene index). That compares two unrelated numbers: a term with n direct
  genes only ever sees deletions of the genes in the first n places of the vocabulary.

A deleted gene whose deletion is invisible in t looks wild type *in t* (it still counts in the
terms where it is visible). The model's gene input for sample b in term t is therefore built
from the effective deletion indicator

    x~_{b,g,t} = x_{b,g} v(g, t),   g in direct(t),

in place of x_{b,g}, for every variant (binary bits, and s_g = 1 - x~ for the embedding
variants). Both engines take v from ``visible_incidences``: the fast engine drops invisible
incidences from its per-gene perturbation lists, the reference loop multiplies the term's
dense gene slice by v.
"""

from __future__ import annotations

import numpy as np

from dcellx.ontology.compiled import CompiledOntology

DELETION_RULES: tuple[str, ...] = ("exact", "torchcell-index-guard")


def visible_incidences(onto: CompiledOntology, rule: str = "exact") -> np.ndarray:
    """bool [A]: v(g, t) for every direct incidence (column of ``onto.gene_term``)."""
    genes, terms = onto.gene_term[0], onto.gene_term[1]
    if rule == "exact":
        return np.ones(len(genes), dtype=bool)
    if rule == "torchcell-index-guard":
        pos = onto.vocabulary_positions()
        return pos[genes] < onto.direct_counts()[terms]
    raise ValueError(f"unknown deletion rule {rule!r}; choose from {DELETION_RULES}")


def effective_deletions(
    onto: CompiledOntology, genes: np.ndarray, rule: str = "exact"
) -> np.ndarray:
    """Sorted incidence ids (columns of ``onto.gene_term``) whose deletion is visible when the
    gene indices ``genes`` are deleted: the model's whole view of that genotype."""
    genes = np.unique(np.asarray(genes, dtype=np.int64))
    hit = np.isin(onto.gene_term[0], genes) & visible_incidences(onto, rule)
    return np.nonzero(hit)[0].astype(np.int64)
