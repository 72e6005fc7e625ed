"""Gene coverage of a dataset by one or more ontologies.

A perturbed gene that is not an ontology input leaves no trace in the model's input (the previous
rebuild's plateau came partly from such genes). A visible gene influences exactly the terms it
*reaches* -- its direct terms and all their ancestors -- so the number of terms reached says how
many subsystem states, and auxiliary losses, a perturbation of it can move.
"""

from __future__ import annotations

import numpy as np

from dcellx.data.genotypes import GenotypeDataset
from dcellx.ontology.compiled import CompiledOntology
from dcellx.ontology.reach import term_gene_reach


def dataset_genes(ds: GenotypeDataset) -> list[str]:
    """Distinct perturbed gene names of a dataset, sorted."""
    return sorted({g for gs in ds.genes for g in gs})


def coverage_one(ds: GenotypeDataset, onto: CompiledOntology, genes: list[str]) -> dict:
    """Coverage of ``genes`` (the dataset's distinct genes) by one ontology; see ``coverage``."""
    index = onto.gene_index
    visible = [index[g] for g in genes if g in index]
    reach = term_gene_reach(onto, np.asarray(visible, dtype=np.int64))
    reached = np.zeros(len(genes), dtype=np.int64)  # invisible genes reach nothing
    vis_mask = np.fromiter((g in index for g in genes), dtype=bool, count=len(genes))
    reached[vis_mask] = reach.sum(axis=0)
    fully = sum(all(g in index for g in gs) for gs in ds.genes)
    n = len(genes)
    return {
        "ontology": onto.name,
        "terms": onto.num_terms,
        "genes": n,
        "visible_genes": len(visible),
        "visible_fraction": len(visible) / n if n else None,
        "samples": len(ds),
        "samples_fully_visible": int(fully),
        "terms_reached_mean": float(reached.mean()) if n else None,
        "terms_reached_median": float(np.median(reached)) if n else None,
        "terms_reached_max": int(reached.max()) if n else None,
        "genes_reaching_0": int((reached == 0).sum()),
    }


def coverage(ds: GenotypeDataset, ontos: dict[str, CompiledOntology]) -> dict:
    """Per ontology label: visible fraction of the dataset's distinct genes and terms reached.

    For each label: ``genes`` (distinct perturbed genes), ``visible_genes``, ``visible_fraction``,
    ``samples_fully_visible`` (genotypes with every gene an input), and over all distinct genes
    (invisible ones count as 0) the mean / median / max number of terms reached, plus
    ``genes_reaching_0``. A visible gene always reaches at least one term (it is an input only
    because it is annotated), so ``genes_reaching_0`` equals the invisible count unless the
    ontology arrays are inconsistent.
    """
    genes = dataset_genes(ds)
    return {label: coverage_one(ds, onto, genes) for label, onto in ontos.items()}
