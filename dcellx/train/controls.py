"""Negative controls a run can train on: a shuffled ontology and shuffled labels.

Randomised pathway ontologies often perform as well as real ones (Caranzano et al. 2025), and
interpretations can reflect topology more than biology (Esser-Skala & Fortelny 2023). A claim that
the GO *structure* helps DCell needs the same run on an ontology of identical shape whose gene
annotations carry no biology, and a claim about fit needs a run on labels with no relation to the
genotype.
"""

from __future__ import annotations

import numpy as np

from dcellx.data.genotypes import GenotypeDataset
from dcellx.ontology.compiled import CompiledOntology
from dcellx.ontology.reach import contained_counts


def shuffle_ontology(onto: CompiledOntology, seed: int) -> CompiledOntology:
    """Same hierarchy and term sizes, gene annotations permuted among genes.

    With a seeded permutation pi of gene indices, every annotation (g, t) becomes (pi(g), t), then
    columns are re-sorted by (term, gene). Terms, edges, strata and per-term direct counts are
    unchanged; since pi is a bijection, contained(t) = |pi(S_t)| = |S_t| too (recomputed from the
    arrays here rather than copied, so the claim is checked, not assumed). Each gene keeps its name
    but takes over another gene's annotations, so genotype files need no change. The structure
    changes, so the content hash does.
    """
    rng = np.random.default_rng(seed)
    perm = rng.permutation(onto.num_genes).astype(np.int64)
    genes = perm[onto.gene_term[0]]
    terms = onto.gene_term[1]
    order = np.lexsort((genes, terms))
    meta = dict(onto.meta)
    meta.update(control="shuffled-ontology", seed=seed, shuffled_from=onto.content_hash)
    out = CompiledOntology(
        name=f"{onto.name}-shuffled-s{seed}",
        term_ids=list(onto.term_ids),
        term_names=list(onto.term_names),
        gene_ids=list(onto.gene_ids),
        strata=onto.strata.copy(),
        child_ptr=onto.child_ptr.copy(),
        child_idx=onto.child_idx.copy(),
        gene_term=np.stack([genes[order], terms[order]]).astype(np.int64),
        contained=onto.contained.copy(),
        meta=meta,
    )
    out.contained = contained_counts(out)
    return out


def shuffle_labels(ds: GenotypeDataset, seed: int) -> GenotypeDataset:
    """Phenotype rows permuted across genotypes (seeded); gene sets untouched.

    All phenotype columns of a row move together, and so do the replicate counts that belong to
    those values. The marginal distribution of ``y`` is preserved exactly, its dependence on the
    genotype destroyed: any fit beyond memorisation on held-out data is then an artefact.
    """
    perm = shuffled_rows(np.arange(len(ds)), seed)
    # gene sets and per-row genotype annotations stay where they are
    return GenotypeDataset(
        None,
        ds.values[perm].copy(),
        ds.phenotypes,
        f"{ds.source} (labels shuffled, seed {seed})",
        ds.counts[perm].copy(),
        codes=ds.codes,
        vocab=ds.vocab,
        meta_codes=ds.meta_codes,
    )


def shuffled_rows(rows: np.ndarray, seed: int) -> np.ndarray:
    """``rows`` in a seeded random order: row ``rows[i]`` takes the labels of the i-th returned
    row. The one label shuffle of every control (a dataset's rows, or a split's)."""
    return rows[np.random.default_rng(seed).permutation(len(rows))]
