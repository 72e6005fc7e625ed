"""``ReferenceDCell``: the deliberately simple DCell -- one module per GO term, a Python loop in
topological order, a dense genotype vector. Written the way DrugCell and torchcell write DCell, it
is slow but can be checked against the paper line by line, so it is the yardstick the fast engine
is tested against (same state dict, same outputs, losses and gradients).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dcellx.nn.config import ModelConfig
from dcellx.nn.layout import ModelLayout
from dcellx.nn.norm import batch_norm_rows, batch_stats_in_use
from dcellx.ontology.compiled import CompiledOntology


class TermNorm(nn.Module):
    """Per-term normalisation with the parameter names of ``nn.BatchNorm1d``/``nn.LayerNorm``."""

    def __init__(self, width: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.weight = nn.Parameter(torch.ones(width))
        self.bias = nn.Parameter(torch.zeros(width))
        if cfg.norm in ("batch", "batch-frozen"):
            self.register_buffer("running_mean", torch.zeros(width))
            self.register_buffer("running_var", torch.ones(width))

    def forward(self, x: torch.Tensor, use_batch_stats: bool) -> torch.Tensor:
        if self.cfg.norm == "layer":
            return F.layer_norm(x, x.shape[-1:], self.weight, self.bias, self.cfg.bn_eps)
        return batch_norm_rows(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            use_batch_stats,
            self.cfg.bn_momentum,
            self.cfg.bn_eps,
        )


def mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class ReferenceDCell(nn.Module):
    """Forward: ``x`` [B, G] (1 = disrupted) -> (root prediction [B], auxiliary [B, T-1])."""

    def __init__(self, onto: CompiledOntology, cfg: ModelConfig, layout: ModelLayout | None = None):
        super().__init__()
        self.onto, self.cfg = onto, cfg
        self.layout = layout or ModelLayout(onto, cfg)
        L, d = self.layout, cfg.embedding_dim
        # which states feed term t: positions in the Python list of states, never a tensor index
        self.children_of = [onto.children(t).tolist() for t in range(onto.num_terms)]
        # term t's direct genes are direct_gene[gene_ptr[t]:gene_ptr[t + 1]] and v(g, t) of the
        # deletion rule (1 = deletion visible) is direct_visible over the same range; buffers (not
        # in the state dict) so that ``.to(device)`` moves them with the model, the bounds host
        # integers, so that taking a term's genes never reads a device tensor back
        self.gene_ptr = [int(p) for p in L.gene_ptr]
        self.register_buffer(
            "direct_gene", torch.from_numpy(L.inc_gene.astype(np.int64)), persistent=False
        )
        self.register_buffer(
            "direct_visible", torch.from_numpy(L.inc_visible.astype(np.float64)), persistent=False
        )
        self.terms = nn.ModuleDict()
        self.norms = nn.ModuleDict()
        self.aux = nn.ModuleDict()
        self.deep = nn.ModuleDict()
        self.deep_norms = nn.ModuleDict()
        self.genes = nn.ModuleDict()
        for t, tid in enumerate(onto.term_ids):
            w = int(L.width[t])
            if cfg.gene_layer == "masked-layer" and L.direct[t]:
                self.genes[tid] = nn.Linear(int(L.direct[t]), w)
            elif cfg.gene_layer == "dense-layer" and L.direct[t]:
                self.genes[tid] = nn.Linear(onto.num_genes, w)  # every gene, no mask
            self.terms[tid] = nn.Linear(int(L.fan_in[t]), w)
            if cfg.norm != "none":
                self.norms[tid] = TermNorm(w, cfg)
            if cfg.depth > 1:
                self.deep[tid] = nn.ModuleDict(
                    {str(k): nn.Linear(w, w) for k in range(1, cfg.depth)}
                )
                if cfg.norm != "none":
                    self.deep_norms[tid] = nn.ModuleDict(
                        {str(k): TermNorm(w, cfg) for k in range(1, cfg.depth)}
                    )
            if t != onto.root:
                self.aux[tid] = nn.Linear(w, 1)
        self.head = nn.Linear(int(L.width[onto.root]), 1)
        if cfg.variant != "binary":
            self.gene_embedding = nn.Embedding(onto.num_genes, d)
        if cfg.variant == "embedding-deepset":
            self.phi = mlp([d, cfg.deepset_hidden, cfg.deepset_hidden])
            self.rho = mlp([cfg.deepset_hidden, cfg.deepset_hidden, d])
        if cfg.variant == "embedding-attention":
            self.attn = nn.ModuleDict({k: nn.Linear(d, d) for k in ("q", "k", "v")})
        self.register_buffer("norm_steps", torch.zeros((), dtype=torch.long))

    def l2_parameters(self) -> list[torch.Tensor]:
        """Every weight matrix except normalisation scales (same set as ``DCell``)."""
        return [
            p
            for n, p in self.named_parameters()
            if n.endswith("weight") and not n.startswith(("norms.", "deep_norms."))
        ]

    def _gene_block(self, t: int, x: torch.Tensor) -> torch.Tensor | None:
        """The gene part of I(t), computed the obvious way from the dense genotype: the bits
        x~_g = x_g v(g, t) (1 = disrupted and visible under the deletion rule), or 1 - x~_g for
        ``gene_state = "present-one"``; the embedding variants use s_g = 1 - x~_g."""
        g0, g1 = self.gene_ptr[t], self.gene_ptr[t + 1]
        if g0 == g1:
            return None
        genes = self.direct_gene[g0:g1]
        cfg = self.cfg
        if cfg.gene_layer == "dense-layer":  # the saved Lua model: G_t x + c_t over all genes
            bits = 1 - x if cfg.gene_state == "present-one" else x
            return self.genes[self.onto.term_ids[t]](bits)
        xg = x[:, genes] * self.direct_visible[g0:g1].to(x.dtype)  # [B, n] 1 = disrupted, visible
        bits = 1 - xg if cfg.gene_state == "present-one" else xg
        if cfg.gene_layer == "masked-layer":
            return self.genes[self.onto.term_ids[t]](bits)
        if cfg.variant == "binary":
            return bits
        s = (1 - xg).unsqueeze(-1)  # [B, n, 1] 1 = present
        e = self.gene_embedding.weight[genes]  # [n, d]
        if cfg.variant == "embedding":
            return (s * e).flatten(1)
        if cfg.variant == "embedding-pooled":
            return (s * e).sum(1)
        if cfg.variant == "embedding-deepset":
            return self.rho((s * self.phi(e)).sum(1))
        # attention across the term's present genes, then sum-pooled over present genes
        H = cfg.attention_heads
        dh = cfg.embedding_dim // H
        q = self.attn["q"](e).view(-1, H, dh)  # [n, H, dh]
        k = self.attn["k"](e).view(-1, H, dh)
        v = self.attn["v"](e).view(-1, H, dh)
        scores = torch.einsum("ihc,jhc->hij", q, k) / math.sqrt(dh)  # [H, n, n]
        present = s.squeeze(-1) > 0.5  # [B, n]
        mask = ~present[:, None, None, :]  # keys
        sc = scores.unsqueeze(0).masked_fill(mask, float("-inf"))
        att = torch.softmax(sc, dim=-1)
        att = torch.nan_to_num(att, nan=0.0)  # a term whose genes are all deleted
        out = torch.einsum("bhij,jhc->bihc", att, v).flatten(2)  # [B, n, d]
        return (out * present.unsqueeze(-1)).sum(1)

    def _norm(self, module: nn.Module | None, z: torch.Tensor) -> torch.Tensor:
        if module is None:
            return z
        return module(z, batch_stats_in_use(self.cfg, self.training, self.norm_steps))

    def _block(self, z: torch.Tensor, norm: nn.Module | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(pre-norm activation, state): paper BN(tanh(z)) or torchcell tanh(BN(z))."""
        if self.cfg.block == "linear-tanh-norm":
            pre = torch.tanh(z)
            return pre, self._norm(norm, pre)
        pre = self._norm(norm, z)
        return pre, torch.tanh(pre)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cfg, onto = self.cfg, self.onto
        states: list[torch.Tensor | None] = [None] * onto.num_terms
        aux = []
        for t, tid in enumerate(onto.term_ids):
            parts = [states[c] for c in self.children_of[t]]
            g = self._gene_block(t, x)
            if g is not None:
                parts.append(g)
            if t == onto.root and self.layout.root_extra:
                parts.append(x.new_ones(x.shape[0], 1))  # torchcell's GO:ROOT constant input
            z = self.terms[tid](torch.cat(parts, dim=1))
            pre, h = self._block(z, self.norms[tid] if tid in self.norms else None)
            for k in range(1, cfg.depth):
                z = self.deep[tid][str(k)](h)
                dn = self.deep_norms[tid][str(k)] if tid in self.deep_norms else None
                pre, h = self._block(z, dn)
            states[t] = h
            if t != onto.root:
                a = self.aux[tid](pre if cfg.aux_input == "pre-norm" else h).squeeze(1)
                aux.append(torch.tanh(a) if cfg.aux_head == "tanh-linear" else a)
        if self.training:
            self.norm_steps += 1
        root = self.head(states[onto.root]).squeeze(1)
        return root, torch.stack(aux, dim=1)
