"""Initial parameters in the term-named layout shared by both engines.

Both the fast engine and the reference loop start from ``init_term_state`` so that a seed fixes
the initial function exactly, whichever engine runs it. Names (``terms.GO:0006281.weight`` ...)
are those of ``ReferenceDCell.state_dict()``; a checkpoint is therefore inspectable by GO id.
"""

from __future__ import annotations

import torch

import dcellx.nn.term_keys as keys
from dcellx.nn.genes import GENE_INPUTS, gene_input_kind
from dcellx.nn.layout import ModelLayout
from dcellx.nn.linear_init import linear_init


def init_term_state(
    layout: ModelLayout, seed: int, dtype: torch.dtype = torch.float32
) -> dict[str, torch.Tensor]:
    """A full term-named state dict, drawn from one seeded generator in a fixed order."""
    cfg, onto = layout.cfg, layout.onto
    gen = torch.Generator().manual_seed(seed)
    genes = GENE_INPUTS[gene_input_kind(cfg)]
    state: dict[str, torch.Tensor] = genes.initial_shared_state(layout, gen, dtype)
    root = onto.root
    for t, tid in enumerate(onto.term_ids):
        w_t = int(layout.width[t])
        if layout.direct[t]:  # a Lua gene layer's genes.<t>.*, drawn before the term's Linear
            state.update(genes.initial_layer_state(layout, t, tid, gen, dtype))
        w, b = linear_init(gen, w_t, int(layout.fan_in[t]), cfg, dtype)
        state[f"{keys.term(tid)}.weight"], state[f"{keys.term(tid)}.bias"] = w, b
        for k in range(1, cfg.depth):
            w, b = linear_init(gen, w_t, w_t, cfg, dtype)
            state[f"{keys.deep(tid, k)}.weight"], state[f"{keys.deep(tid, k)}.bias"] = w, b
        for k in range(cfg.depth):
            prefix = keys.norm(tid, k)
            if cfg.norm != "none":
                state[f"{prefix}.weight"] = torch.ones(w_t, dtype=dtype)
                state[f"{prefix}.bias"] = torch.zeros(w_t, dtype=dtype)
            if cfg.norm in ("batch", "batch-frozen"):
                state[f"{prefix}.running_mean"] = torch.zeros(w_t, dtype=dtype)
                state[f"{prefix}.running_var"] = torch.ones(w_t, dtype=dtype)
        if t != root:
            aw, ab = linear_init(gen, 1, w_t, cfg, dtype)
            state[f"{keys.aux(tid)}.weight"], state[f"{keys.aux(tid)}.bias"] = aw, ab
    hw, hb = linear_init(gen, 1, int(layout.width[root]), cfg, dtype)
    state[f"{keys.HEAD}.weight"], state[f"{keys.HEAD}.bias"] = hw, hb
    state[keys.NORM_STEPS] = torch.zeros((), dtype=torch.long)
    return state
