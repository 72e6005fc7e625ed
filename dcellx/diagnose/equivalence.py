"""The embedding variant is a re-parameterisation of the binary one; this module proves it on a
trained model by building the binary DCell that computes the same function.

Through a term's Linear, the flattened embedding block gives
    A . vec(s_g e_g) = sum_g s_g (A_g e_g),   s_g = 1 - x_g  (x_g = 1: disrupted)
                     = sum_g A_g e_g - sum_g x_g (A_g e_g),
so the binary model with gene columns -A_g e_g and bias b + sum_g A_g e_g is the same function.
For ``embedding-pooled`` the columns are tied: C_t = P_t [e_g1 ... e_gn] has rank <= d.
"""

from __future__ import annotations

import numpy as np
import torch

import dcellx.nn.term_keys as keys
from dcellx.batch import PerturbationBatch
from dcellx.nn.config import ModelConfig
from dcellx.nn.dcell import DCell
from dcellx.nn.layout import ModelLayout
from dcellx.ontology.compiled import CompiledOntology


def embedding_to_binary(
    state: dict[str, torch.Tensor], onto: CompiledOntology, cfg: ModelConfig
) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """Term-named state of a trained ``embedding`` model -> (binary config, binary state)."""
    if cfg.variant != "embedding":
        raise ValueError("only the flattened embedding variant converts exactly")
    layout = ModelLayout(onto, cfg)
    # the columns below are those of the 1 = disrupted bits, whatever the config's gene_state
    bcfg = cfg.model_copy(update={"variant": "binary", "gene_state": "disrupted-one"})
    E = state["gene_embedding.weight"]
    d = cfg.embedding_dim
    out = {k: v.clone() for k, v in state.items() if k != "gene_embedding.weight"}
    for t, tid in enumerate(onto.term_ids):
        n = int(layout.direct[t])
        if n == 0:
            continue
        W = state[f"{keys.term(tid)}.weight"]
        ci = int(layout.child_in[t])
        genes = layout.inc_gene[layout.gene_ptr[t] : layout.gene_ptr[t + 1]]
        A = W[:, ci : ci + n * d].reshape(W.shape[0], n, d)  # [w, n, d]
        cols = torch.einsum("wnd,nd->wn", A, E[torch.from_numpy(genes)])  # A_g e_g
        # (a root's constant-one input column, if any, stays last)
        out[f"{keys.term(tid)}.weight"] = torch.cat([W[:, :ci], -cols, W[:, ci + n * d :]], 1)
        out[f"{keys.term(tid)}.bias"] = state[f"{keys.term(tid)}.bias"] + cols.sum(1)
    return bcfg, out


def equivalence_gap(
    state: dict[str, torch.Tensor],
    onto: CompiledOntology,
    cfg: ModelConfig,
    batch: PerturbationBatch,
) -> dict[str, float]:
    """Max |difference| of root and auxiliary outputs (eval-mode BN) between the embedding model
    and its binary conversion on ``batch``."""
    emb = DCell(onto, cfg)
    emb.load_term_state_dict(state)
    bcfg, bstate = embedding_to_binary(state, onto, cfg)
    binm = DCell(onto, bcfg)
    binm.load_term_state_dict(bstate)
    emb.eval()
    binm.eval()
    with torch.no_grad():
        r1, a1 = emb(batch)
        r2, a2 = binm(batch)
    return {
        "max_abs_diff_root": float((r1 - r2).abs().max()),
        "max_abs_diff_aux": float((a1 - a2).abs().max()) if a1.numel() else 0.0,
        "root_scale": float(r1.abs().max()),
    }


def pooled_column_ranks(
    state: dict[str, torch.Tensor], onto: CompiledOntology, cfg: ModelConfig
) -> dict[str, float]:
    """Rank of each term's tied gene-column matrix P_t [e_g] (w x n): at most d."""
    layout = ModelLayout(onto, cfg)
    E = state["gene_embedding.weight"]
    ranks, full = [], []
    for t, tid in enumerate(onto.term_ids):
        n = int(layout.direct[t])
        if n == 0:
            continue
        W = state[f"{keys.term(tid)}.weight"]
        ci = int(layout.child_in[t])
        P = W[:, ci : ci + cfg.embedding_dim]  # [w, d]
        genes = layout.inc_gene[layout.gene_ptr[t] : layout.gene_ptr[t + 1]]
        C = P.double() @ E[torch.from_numpy(genes)].double().T  # [w, n], in float64 so that
        # float32 rounding does not count as rank
        ranks.append(int(torch.linalg.matrix_rank(C)))
        full.append(min(C.shape))
    r, f = np.array(ranks), np.array(full)
    return {
        "terms": len(r),
        "embedding_dim": cfg.embedding_dim,
        "max_rank": int(r.max()) if len(r) else 0,
        "mean_rank": float(r.mean()) if len(r) else 0.0,
        "terms_rank_deficient": int((r < f).sum()),
        "mean_binary_rank": float(f.mean()) if len(f) else 0.0,
    }
