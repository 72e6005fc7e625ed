"""The import record of a saved Torch7 DCell: what the file is, beside its state.

Module counts and parameters, the structure ``dcellx.nn.lua_import`` found (block order, head
input, head Tanh, BatchNorm eps/momentum), each choice where it differs from ``--preset lua``
with the evidence for it, and what the file says about the gene layers: for term t with direct
genes D(t) (the topology's ``GENES`` line, which the Lua mask was built from) and gene-layer
weight W_t [w_t, G], the share of its squared weight norm on genes outside the term,

    s_t = sum_{g not in D(t)} sum_u W_t[u, g]^2 / sum_g sum_u W_t[u, g]^2,

beside (G - |D(t)|) / G, the share a layer indifferent to the annotation would have, and the
per-gene ratio rho_t = mean_{g in D(t)} sum_u W_t[u, g]^2 / mean_{g not in D(t)} sum_u W_t[u, g]^2
(1: a term's own genes weigh no more than any other gene).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from dcellx.nn.config import make_config
from dcellx.nn.layout import ModelLayout
from dcellx.nn.lua_graph import Node
from dcellx.ontology.compiled import CompiledOntology


@dataclass(frozen=True)
class PlacedGraph:
    """What ``dcellx.nn.lua_import`` placed of the saved graph, as the record reads it."""

    nodes: list[Node]
    onto: CompiledOntology
    layout: ModelLayout  # the lua-released layout of ``onto``
    input_genes: list[str]  # the file's input genes in column order (its gene map)
    gene_layer: dict[int, int]  # term with direct genes -> the node of its gene layer


def import_record(
    placed: PlacedGraph, facts: dict[str, Any], overrides: dict[str, Any]
) -> dict[str, Any]:
    """What the file is: module counts, structure found, and the gene layers' outside shares."""
    onto, nodes, L = placed.onto, placed.nodes, placed.layout
    counts: dict[str, int] = {}
    params = 0
    for n in nodes:
        if n.kind:
            counts[n.kind] = counts.get(n.kind, 0) + 1
            params += sum(a.size for k in ("weight", "bias") if (a := n.array(k)) is not None)
    col = {g: j for j, g in enumerate(placed.input_genes)}
    layers = []
    for t, i in sorted(placed.gene_layer.items()):
        W = nodes[i].array("weight").astype(np.float64)
        lo, hi = int(L.gene_ptr[t]), int(L.gene_ptr[t + 1])
        inside = np.zeros(W.shape[1], bool)
        inside[[col[onto.gene_ids[g]] for g in L.inc_gene[lo:hi]]] = True
        grad = nodes[i].array("gradWeight")
        layers.append(
            {
                "term": onto.term_ids[t],
                "direct_genes": int(inside.sum()),
                "weight_share_outside": float((W[:, ~inside] ** 2).sum() / (W**2).sum()),
                "gene_share_outside": float((~inside).mean()),
                # mean squared weight of a gene of the term over that of a gene outside it
                "inside_to_outside_per_gene": float(
                    (W[:, inside] ** 2).mean() / (W[:, ~inside] ** 2).mean()
                ),
                "zero_weights": int((W == 0).sum()),
                "zero_weights_outside": int((W[:, ~inside] == 0).sum()),
                # the last step's saved gradient: a masked gradient is exactly 0 outside the term
                "zero_grad_outside": None if grad is None else int((grad[:, ~inside] == 0).sum()),
                "weights_outside": int((~inside).sum() * W.shape[0]),
            }
        )
    shares = np.array([r["weight_share_outside"] for r in layers])
    ratios = np.array([r["inside_to_outside_per_gene"] for r in layers])
    zeros = sum(r["zero_weights"] for r in layers)
    grads = [r["zero_grad_outside"] for r in layers]
    outside = sum(r["weights_outside"] for r in layers)
    order = overrides["block"].split("-")[1:]
    names = {"norm": "BatchNormalization", "tanh": "Tanh"}
    evidence = {
        "gene_layer": f"{len(layers)} gene layers nn.Linear({len(placed.input_genes)} -> w_t), "
        f"annotated gene_<term>, read all {len(placed.input_genes)} input genes; {zeros} of "
        f"{sum(nodes[i].array('weight').size for i in placed.gene_layer.values())} weights are 0"
        + (
            f"; {sum(grads)} of the {outside} saved last-step gradients on genes outside the "
            "terms are 0 (a masked gradient is 0 there)"
            if None not in grads
            else ""
        ),
        "block": f"every term: Linear -> {names[order[0]]} -> {names[order[1]]} (graph edges)",
        "aux_input": "each auxiliary Linear(w_t -> 1) reads "
        + (
            "the term's state (the node its parents join)"
            if overrides["aux_input"] == "state"
            else "the pre-norm activation"
        ),  # fmt: skip
        "aux_head": "an nn.Tanh after each auxiliary Linear"
        if overrides["aux_head"] == "tanh-linear"
        else "no Tanh after the auxiliary Linear",
        "bn_eps": "BatchNormalization.eps",
        "bn_momentum": "BatchNormalization.momentum",
        "init": "not stored in the .t7: training/Train_DCell.lua at idekerlab/DCell 76df5ba "
        "(the commit holding the file) multiplies every Linear weight by 0.01",
        "alpha": "not stored in the .t7: training/Binary_GO_NN.lua at 76df5ba weighs each "
        "auxiliary MSE 0.3 (nn.ParallelCriterion, summed)",
    }
    lua = make_config("lua")
    saved = make_config("lua-released", **overrides)
    differences = [
        {"field": k, "lua": getattr(lua, k), "saved": getattr(saved, k), "evidence": v}
        for k, v in evidence.items()
        if getattr(lua, k) != getattr(saved, k)
    ]
    return {
        **facts,
        "modules": dict(sorted(counts.items())),
        "parameters": int(params),
        "inputs": len(placed.input_genes),
        "terms": onto.num_terms,
        "found": {**overrides, "gene_layer": "dense-layer"},
        "differences_from_lua": differences,
        "gene_layers": layers,
        "weight_share_outside": {
            "min": float(shares.min()),
            "median": float(np.median(shares)),
            "max": float(shares.max()),
        },
        "inside_to_outside_per_gene": {
            "min": float(ratios.min()),
            "median": float(np.median(ratios)),
            "max": float(ratios.max()),
        },
    }
