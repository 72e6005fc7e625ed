"""Model size of the paper preset on a compiled ontology, without building the model.

Per term t with width w_t = max(floor, ceil(multiplier * contained_t)) and
fan_in_t = sum_{c in children(t)} w_c + direct_genes_t (the term's input I(t)):

    params_t = fan_in_t * w_t + w_t     (Linear weight + bias)
             + 2 w_t                    (BatchNorm affine scale and shift)
             + w_t + 1                  (auxiliary head Linear(w_t, 1); the root's readout)

Knowing the size before training says whether an overfit failure can be a capacity problem:
the number of parameters is far above the number of samples of one batch.
"""

from __future__ import annotations

import numpy as np

from dcellx.ontology.compiled import CompiledOntology

WIDTH_BINS: list[tuple[str, int, float]] = [
    ("<=20", 0, 20),
    ("21-50", 21, 50),
    ("51-100", 51, 100),
    ("101-300", 101, 300),
    ("301-1000", 301, 1000),
    (">1000", 1001, float("inf")),
]


def capacity(onto: CompiledOntology, floor: int = 20, multiplier: float = 0.3) -> dict:
    """Parameters, neurons per stratum and a width histogram of the paper preset (module doc).

    Keys: ``terms``, ``neurons``, ``params`` (total), ``params_linear``, ``params_batchnorm``,
    ``params_aux``, ``neurons_per_stratum`` (list, stratum 0 = leaves), ``width_min``,
    ``width_max``, ``width_histogram`` (bin label -> term count; with the paper's floor 20 the
    first bin holds exactly the width-20 terms).
    """
    w = onto.widths(floor, multiplier)
    parent_of_edge = np.repeat(np.arange(onto.num_terms), np.diff(onto.child_ptr))
    child_in = np.bincount(parent_of_edge, weights=w[onto.child_idx], minlength=onto.num_terms)
    fan_in = child_in.astype(np.int64) + onto.direct_counts()
    linear = int((fan_in * w + w).sum())
    bn = int(2 * w.sum())
    aux = int((w + 1).sum())
    hist = {label: int(((w >= lo) & (w <= hi)).sum()) for label, lo, hi in WIDTH_BINS}
    return {
        "ontology": onto.name,
        "floor": floor,
        "multiplier": multiplier,
        "terms": onto.num_terms,
        "neurons": int(w.sum()),
        "params": linear + bn + aux,
        "params_linear": linear,
        "params_batchnorm": bn,
        "params_aux": aux,
        "neurons_per_stratum": np.bincount(onto.strata, weights=w).astype(np.int64).tolist(),
        "width_min": int(w.min()),
        "width_max": int(w.max()),
        "width_histogram": hist,
    }
