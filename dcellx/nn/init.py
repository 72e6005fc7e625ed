"""Initial parameters in the term-named layout shared by both engines.

Both the fast engine and the reference loop start from ``init_term_state`` so that a seed fixes
the initial function exactly, whichever engine runs it. Names (``terms.GO:0006281.weight`` ...)
are those of ``ReferenceDCell.state_dict()``; a checkpoint is therefore inspectable by GO id.
"""

from __future__ import annotations

import math

import torch

from dcellx.nn.config import ModelConfig
from dcellx.nn.layout import ModelLayout


def _linear(gen: torch.Generator, out: int, fan_in: int, cfg: ModelConfig, dtype: torch.dtype):
    """torch's default Linear init, U(+-1/sqrt(fan_in)) for weight and bias (Torch7 used the
    same bound), then the preset's rescaling. In place: the same float32 operations in the same
    order as ``(rand * 2 - 1) * bound`` (bitwise the same values), without a temporary tensor
    per operation (three model-sized allocations on the full-GO paper model)."""
    w = torch.rand(out, fan_in, generator=gen, dtype=dtype)
    b = torch.rand(out, generator=gen, dtype=dtype)
    if cfg.init == "uniform-0.001":
        return w.mul_(2).sub_(1).mul_(0.001), b.mul_(2).sub_(1).mul_(0.001)
    bound = 1.0 / math.sqrt(max(fan_in, 1))
    w.mul_(2).sub_(1).mul_(bound)
    b.mul_(2).sub_(1).mul_(bound)
    if cfg.init == "lua-scaled":
        w.mul_(0.001)
    elif cfg.init == "lua-scaled-0.01":
        w.mul_(0.01)
    return w, b


def _mlp(gen, prefix: str, sizes: list[int], cfg: ModelConfig, dtype) -> dict[str, torch.Tensor]:
    """Sequential(Linear, Tanh, Linear, ...) parameters named like ``nn.Sequential``."""
    out = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        w, bias = _linear(gen, b, a, cfg, dtype)
        out[f"{prefix}.{2 * i}.weight"], out[f"{prefix}.{2 * i}.bias"] = w, bias
    return out


def init_term_state(
    layout: ModelLayout, seed: int, dtype: torch.dtype = torch.float32
) -> dict[str, torch.Tensor]:
    """A full term-named state dict, drawn from one seeded generator in a fixed order."""
    cfg, onto = layout.cfg, layout.onto
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    d, h = cfg.embedding_dim, cfg.deepset_hidden
    if cfg.variant != "binary":
        state["gene_embedding.weight"] = torch.randn(onto.num_genes, d, generator=gen, dtype=dtype)
    if cfg.variant == "embedding-deepset":
        state.update(_mlp(gen, "phi", [d, h, h], cfg, dtype))
        state.update(_mlp(gen, "rho", [h, h, d], cfg, dtype))
    if cfg.variant == "embedding-attention":
        for name in ("q", "k", "v"):
            w, b = _linear(gen, d, d, cfg, dtype)
            state[f"attn.{name}.weight"], state[f"attn.{name}.bias"] = w, b
    root = onto.root
    for t, tid in enumerate(onto.term_ids):
        w_t = int(layout.width[t])
        if cfg.gene_layer != "direct" and layout.direct[t]:
            # masked: Linear(direct genes -> w_t); dense: Linear(every gene -> w_t)
            n_in = int(layout.direct[t]) if cfg.gene_layer == "masked-layer" else onto.num_genes
            gw, gb = _linear(gen, w_t, n_in, cfg, dtype)
            state[f"genes.{tid}.weight"], state[f"genes.{tid}.bias"] = gw, gb
        w, b = _linear(gen, w_t, int(layout.fan_in[t]), cfg, dtype)
        state[f"terms.{tid}.weight"], state[f"terms.{tid}.bias"] = w, b
        for k in range(1, cfg.depth):
            w, b = _linear(gen, w_t, w_t, cfg, dtype)
            state[f"deep.{tid}.{k}.weight"], state[f"deep.{tid}.{k}.bias"] = w, b
        for k in range(cfg.depth):
            prefix = f"norms.{tid}" if k == 0 else f"deep_norms.{tid}.{k}"
            if cfg.norm != "none":
                state[f"{prefix}.weight"] = torch.ones(w_t, dtype=dtype)
                state[f"{prefix}.bias"] = torch.zeros(w_t, dtype=dtype)
            if cfg.norm in ("batch", "batch-frozen"):
                state[f"{prefix}.running_mean"] = torch.zeros(w_t, dtype=dtype)
                state[f"{prefix}.running_var"] = torch.ones(w_t, dtype=dtype)
        if t != root:
            aw, ab = _linear(gen, 1, w_t, cfg, dtype)
            state[f"aux.{tid}.weight"], state[f"aux.{tid}.bias"] = aw, ab
    hw, hb = _linear(gen, 1, int(layout.width[root]), cfg, dtype)
    state["head.weight"], state["head.bias"] = hw, hb
    state["norm_steps"] = torch.zeros((), dtype=torch.long)
    return state
