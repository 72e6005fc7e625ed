"""The autograd engine: DCell's forward on torch's autograd, over the packed per-bucket weights.

Per stratum s (children always sit in lower strata), states neuron-major ([neurons, batch]) so
that gathering a term's inputs is a row gather:

1. gather the input rows of every term in s from the states of lower strata (``index_select``);
2. one padded ``bmm`` per bucket of similar-sized terms computes W_t I(t) for all of them;
3. add bias and the sparse gene contribution (``GeneInput``), apply tanh and the normalisation
   over the stratum's neurons at once (BatchNorm is per neuron, so one call covers every term);
4. auxiliary heads of every term in s at once: a per-neuron product summed per term.

It computes every configuration (``dcellx.nn.engines``); the fused engine (``dcellx.nn.fused``)
computes the same function with a hand-written backward where it supports the configuration.
"""

from __future__ import annotations

from typing import Protocol

import torch

from dcellx.batch import PerturbationBatch
from dcellx.nn.norm import batch_norm_rows, batch_stats_in_use, layer_norm_terms
from dcellx.nn.ops import index_add, section, take
from dcellx.nn.packed import PackedModel

Outputs = tuple[torch.Tensor, torch.Tensor]  # (root prediction [B], auxiliary outputs [B, T-1])


class AutogradModel(PackedModel, Protocol):
    """What the autograd engine reads of a ``DCell`` besides its packed parameters: its mode, its
    diagnostics switches, the fan-out of every source and the index tensors of its plan."""

    training: bool
    trace: list | None
    keep_states: bool
    last_states: torch.Tensor | None
    # source (-1: Lua's gene-layer rows, j: stratum j's states) -> (consumer strata, rows each)
    fanout: dict[int, tuple[list[int], list[int]]]

    @property
    def autograd_index(self) -> dict: ...


def autograd_forward(model: AutogradModel, batch: PerturbationBatch) -> Outputs:
    """``model``'s forward on autograd, stratum by stratum (module docstring)."""
    cfg, B = model.cfg, batch.size
    with section("genes"):
        gene_out = model.genes(batch)
    lua = cfg.gene_layer != "direct"
    extra, genes = (gene_out, None) if lua else (None, gene_out)
    # Per-stratum views through one split each: the backward of a split is a single cat,
    # while slicing a parameter per stratum would zero-fill a full-size gradient per slice.
    strata = model.layout.strata
    sizes = [p.neurons[1] - p.neurons[0] for p in strata]
    index = model.autograd_index
    base = genes.base if genes is not None else None
    base_s = torch.split(base, sizes) if base is not None else None
    bias_s = torch.split(model.bias, sizes)
    aux_w_s = torch.split(model.aux_weight, sizes)
    aux_b_s = torch.split(model.aux_bias, [len(p.terms) for p in strata])
    deep_b_s = [torch.split(model.deep_bias[k], sizes) for k in range(cfg.depth - 1)]
    norm_w_s = [torch.split(w, sizes) for w in model.norm_weight]
    norm_b_s = [torch.split(b, sizes) for b in model.norm_bias]

    def affine(layer: int, s: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Stratum s's weight and bias of layer's normalisation (none under norm "none")."""
        return (norm_w_s[layer][s], norm_b_s[layer][s]) if norm_w_s else None

    outs: list[torch.Tensor] = []
    aux: list[torch.Tensor] = []
    fed: dict[tuple[int, int], torch.Tensor] = {}  # (source, consumer) -> rows

    def fan_out(src: int, states: torch.Tensor) -> None:
        if src in model.fanout:
            who, sizes = model.fanout[src]
            with section("gather"):
                rows = take(states, index["fan"][src])
                for s_, part in zip(who, torch.split(rows, sizes), strict=True):
                    fed[(src, s_)] = part

    if extra is not None:
        fan_out(-1, extra)
    for s, plan in enumerate(strata):
        (n0, n1), (t0, t1), bks = plan.neurons, plan.term_range, plan.buckets
        with section("gather"):
            parts = [fed.pop((src, s)) for src, _ in plan.sources]
            parts.append(torch.zeros(1, B, dtype=model.bias.dtype, device=model.bias.device))
            X = torch.cat(parts, 0)
            Xall = take(X, index["in"][s])
            sizes_k = [len(b.terms) * b.fan_pad for b in bks]
            Xks = torch.split(Xall, sizes_k) if len(bks) > 1 else [Xall]
        with section("matmul"):
            ys = []
            for b, Xk in zip(bks, Xks, strict=True):
                Xk = Xk.view(len(b.terms), b.fan_pad, B)
                ys.append(torch.bmm(model.weights[b.weight], Xk).view(-1, B))
            Y = torch.cat(ys, 0) if len(ys) > 1 else ys[0]
        with section("bias+genes"):
            z = Y.index_select(0, index["unpad"][s]) + bias_s[s].unsqueeze(1)
            if genes is not None:
                z = _add_genes(z, genes, base_s, s, n0, B)
            if t1 - 1 == model.onto.root and model.layout.root_extra:
                z = z + model.root_const.unsqueeze(1)
        pre, h = _block(model, z, 0, n0, n1, s, index["lterm"][s], affine(0, s))
        for layer in range(1, cfg.depth):
            hp = torch.cat([h, h.new_zeros(1, B)], 0)
            ys = []
            for k, b in enumerate(bks):
                Hk = take(hp, index["pad"][s][k])
                Hk = Hk.view(len(b.terms), b.out_pad, B)
                W = model.deep_weights[b.weight][layer - 1]
                ys.append(torch.bmm(W, Hk).view(-1, B))
            Y = torch.cat(ys, 0) if len(ys) > 1 else ys[0]
            z = Y.index_select(0, index["unpad"][s])
            z = z + deep_b_s[layer - 1][s].unsqueeze(1)
            pre, h = _block(model, z, layer, n0, n1, s, index["lterm"][s], affine(layer, s))
        outs.append(h)
        fan_out(s, h)
        if t1 - 1 == model.onto.root:
            continue  # the root has the main head instead of an auxiliary one
        with section("aux heads"):
            a_in = pre if cfg.aux_input == "pre-norm" else h
            lt = index["lterm"][s]
            contrib = a_in * aux_w_s[s].unsqueeze(1)
            a = torch.zeros(t1 - t0, B, dtype=contrib.dtype, device=contrib.device)
            a = index_add(a, lt, contrib) + aux_b_s[s].unsqueeze(1)
            aux.append(torch.tanh(a) if cfg.aux_head == "tanh-linear" else a)
    if model.training:
        model.norm_steps += 1
    if model.keep_states:  # for diagnostics (RLIPP, saturation): all neuron states [N, B]
        model.last_states = torch.cat(outs, 0).detach()
    with section("root head"):
        root = model.head_weight @ outs[-1] + model.head_bias
        aux_all = torch.cat(aux, 0).t()
    return root, aux_all


def _add_genes(z, genes, base_s, s: int, n0: int, B: int) -> torch.Tensor:
    """z [N_s, B] + the stratum's gene contribution (dense base + sparse entries)."""
    if base_s is not None:
        z = z + base_s[s].unsqueeze(1)
    lo, hi = genes.ptr[s], genes.ptr[s + 1]
    if hi > lo:
        idx = (genes.neuron[lo:hi] - n0) * B + genes.sample[lo:hi]
        z = index_add(z.reshape(-1), idx, genes.value[lo:hi]).view(z.shape)
    return z


def _block(model: AutogradModel, z, layer, n0, n1, s, lterm, affine):
    """The block's two steps (tanh and the normalisation, in ``cfg.block``'s order): (pre, h)."""
    if model.cfg.block == "linear-tanh-norm":
        with section("tanh"):
            pre = torch.tanh(z)
        with section("norm"):
            h = _norm(model, pre, layer, n0, n1, lterm, affine, s)
    else:
        with section("norm"):
            pre = _norm(model, z, layer, n0, n1, lterm, affine, s)
        with section("tanh"):
            h = torch.tanh(pre)
    if model.trace is not None:
        model.trace.append((s, layer, z.detach(), pre.detach(), h.detach()))
    return pre, h


def _norm(
    model: AutogradModel, z: torch.Tensor, layer: int, n0: int, n1: int, lterm, affine, s: int
) -> torch.Tensor:
    """z [N_s, B] of stratum s -> normalised, per neuron (batch) or per term (layer;
    ``lterm``: the stratum-local term of each neuron); ``affine``: the stratum's (weight, bias)
    of this layer's normalisation, ``None`` under norm "none"."""
    cfg = model.cfg
    if cfg.norm == "none":
        return z
    w, b = affine
    if cfg.norm == "layer":
        return layer_norm_terms(z, lterm, w, b, cfg.bn_eps, len(model.layout.strata[s].terms))
    out = batch_norm_rows(
        z.t(),
        model.running_mean[layer, n0:n1],
        model.running_var[layer, n0:n1],
        w,
        b,
        batch_stats_in_use(cfg, model.training, model.norm_steps),
        cfg.bn_momentum,
        cfg.bn_eps,
    )
    return out.t()
