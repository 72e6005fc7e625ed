"""Summary numbers of a compiled ontology (``dcellx ontology stats``)."""

from __future__ import annotations

import numpy as np

from dcellx.ontology.compiled import CompiledOntology


def ontology_stats(onto: CompiledOntology, floor: int = 20, multiplier: float = 0.3) -> dict:
    """Counts the paper reports (terms, strata, neurons) plus per-stage filter counts.

    ``neurons``/``widths`` use the paper's max(floor, ceil(multiplier * contained)); ``params`` is
    the paper preset's parameter count (term Linear layers, BatchNorm affine, auxiliary heads).
    """
    w = onto.widths(floor, multiplier)
    direct = onto.direct_counts()
    child_in = np.zeros(onto.num_terms, dtype=np.int64)
    for t in range(onto.num_terms):
        child_in[t] = w[onto.children(t)].sum()
    fan_in = child_in + direct
    params = int((fan_in * w + w).sum() + 2 * w.sum() + (w + 1).sum())
    strata_sizes = np.bincount(onto.strata).tolist()
    return {
        "name": onto.name,
        "terms": onto.num_terms,
        "genes": onto.num_genes,
        "annotations": int(onto.gene_term.shape[1]),
        "edges": int(len(onto.child_idx)),
        "strata": onto.num_strata,
        "terms_per_stratum": strata_sizes,
        "leaves": onto.leaves(),
        "root": onto.term_ids[onto.root],
        "namespaces": onto.meta.get("namespaces", {}),
        "neurons": int(w.sum()),
        "width_min": int(w.min()),
        "width_max": int(w.max()),
        "params_paper": params,
        "mflops_per_sample_paper": round(2 * float((fan_in * w).sum()) / 1e6, 1),
        "universe": onto.meta.get("universe"),
        "universe_size": onto.meta.get("universe_size"),
        "content_hash": onto.content_hash,
        "stages": onto.meta.get("stages", []),
        "load": onto.meta.get("load", {}),
        "inputs": (onto.meta.get("recipe") or {}).get("resolved_inputs", {}),
        "served_by": onto.meta.get("served_by"),
        "published": (onto.meta.get("recipe") or {}).get("published", {}),
        "vocabulary": {
            k: v for k, v in (onto.meta.get("vocabulary") or {}).items() if k != "genes"
        },
    }
