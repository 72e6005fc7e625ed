"""Term-named state of ``DCell``: its packed parameters read and written per GO term.

``DCell`` keeps its term Linears packed per bucket (``weights[k]`` [T_k, out_pad, fan_pad]) and
its per-neuron vectors flat over all N neurons. Checkpoints, the reference loop and the Lua
import name every tensor by GO term instead (``terms.GO:0006281.weight`` [w_t, fan_in_t], the
names of ``ReferenceDCell.state_dict()``), so that a saved state is inspectable by id and loads
into either engine. For term t with bucket slot j:

* ``terms.<t>.weight`` = [dense block | gene block | constant-one column (root only)]: the
  dense block (the children's states, then a Lua gene layer's outputs) is
  ``weights[k][j, :w_t, :child_in_t + extra_width_t]``; the gene block of the direct variants
  is rebuilt from their packed gene parameters (``GeneInput.term_gene_columns``);
* ``terms.<t>.bias``, ``norms.<t>.*``, ``aux.<t>.*`` are the rows ``offset[t]:offset[t+1]`` of
  the flat vectors; ``deep.<t>.<k>.*`` and ``deep_norms.<t>.<k>.*`` the extra layers (depth > 1);
* ``genes.<t>.*`` the Lua gene layer G_t, c_t (``gene_layer`` masked or dense;
  ``GeneInput.term_layer_state``); ``gene_embedding.weight`` and the embedding kinds' set
  functions (``phi.*``, ``rho.*``, ``attn.*``) are ``GeneInput.shared_state``.

Bucket padding is not part of the named state; loading zeroes it, so it stays zero.

Both directions run on the CPU whatever the model's device (``moved``): each packed tensor is
copied to the host once, sliced there into ~10^4 term tensors, and (loading) copied back once,
instead of one tiny device-host copy per term tensor. On the CPU nothing is copied, so the state
is what it always was, bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

import dcellx.nn.term_keys as keys
from dcellx.nn.packed import PackedModel

# where term state is sliced and filled: the host, whatever the model's device
HOST = torch.device("cpu")


@contextmanager
def moved(model: nn.Module, device: str | torch.device, write_back: bool = False) -> Iterator[None]:
    """Inside the block, ``model`` reads every parameter and buffer as a copy on ``device`` (one
    copy per tensor; none for a tensor already there); ``write_back``: what the block wrote into
    the copies is copied back into the originals, once each. The copies stand in the modules'
    parameter and buffer tables; the originals are never touched otherwise, so optimiser state,
    autograd and DDP hooks and captured CUDA graphs keep pointing at them. Whatever a term-state
    reader touches must be a parameter or a registered buffer (a plain tensor attribute is not
    moved)."""
    device = torch.device(device)
    copies: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # id -> (original, copy)
    swapped: list[tuple[dict, str, torch.Tensor]] = []  # (table, name, original)
    with torch.no_grad():
        for module in model.modules():
            for table in (module._parameters, module._buffers):
                for name, t in list(table.items()):
                    if t is None or t.device == device:
                        continue
                    if id(t) not in copies:
                        copies[id(t)] = (t, t.to(device))  # under no_grad: no autograd history
                    table[name] = copies[id(t)][1]
                    swapped.append((table, name, t))
    try:
        yield
    finally:
        for table, name, original in swapped:
            table[name] = original
    if write_back:  # only after the block succeeded: a failed load leaves the model as it was
        with torch.no_grad():
            for original, copy in copies.values():
                original.copy_(copy)


def term_slots(model: PackedModel):
    """Yield (term, bucket weight index, slot j) for every term."""
    for plan in model.layout.strata:
        for b in plan.buckets:
            for j, t in enumerate(b.terms):
                yield int(t), b.weight, j


def term_state(model: PackedModel) -> dict[str, torch.Tensor]:
    """State in ``ReferenceDCell`` names (``terms.GO:0006281.weight`` ...), detached copies on the
    CPU (sliced from one host copy of each packed tensor)."""
    L, cfg, onto = model.layout, model.cfg, model.onto
    out: dict[str, torch.Tensor] = {}
    g = model.genes
    with torch.no_grad(), moved(model, HOST):
        out.update(g.shared_state())
        for t, wi, j in term_slots(model):
            tid, w = onto.term_ids[t], int(L.width[t])
            dense_in = int(L.child_in[t] + L.extra_width[t])
            W = model.weights[wi][j, :w, :dense_in]
            if L.direct[t]:
                block = g.term_gene_columns(t)
                if block is not None:
                    W = torch.cat([W, block], 1)
                out.update(g.term_layer_state(t, tid))
            if t == onto.root and L.root_extra:
                W = torch.cat([W, model.root_const.view(-1, 1)], 1)
            lo, hi = int(L.offset[t]), int(L.offset[t + 1])
            out[f"{keys.term(tid)}.weight"] = W.clone()
            out[f"{keys.term(tid)}.bias"] = model.bias[lo:hi].clone()
            for k in range(1, cfg.depth):
                deep = keys.deep(tid, k)
                out[f"{deep}.weight"] = model.deep_weights[wi][k - 1, j, :w, :w].clone()
                out[f"{deep}.bias"] = model.deep_bias[k - 1, lo:hi].clone()
            for k in range(cfg.depth):
                p = keys.norm(tid, k)
                if cfg.norm != "none":
                    out[f"{p}.weight"] = model.norm_weight[k, lo:hi].clone()
                    out[f"{p}.bias"] = model.norm_bias[k, lo:hi].clone()
                if cfg.norm in ("batch", "batch-frozen"):
                    out[f"{p}.running_mean"] = model.running_mean[k, lo:hi].clone()
                    out[f"{p}.running_var"] = model.running_var[k, lo:hi].clone()
            if t != onto.root:
                out[f"{keys.aux(tid)}.weight"] = model.aux_weight[lo:hi].view(1, -1).clone()
                out[f"{keys.aux(tid)}.bias"] = model.aux_bias[t : t + 1].clone()
        out[f"{keys.HEAD}.weight"] = model.head_weight.view(1, -1).clone()
        out[f"{keys.HEAD}.bias"] = model.head_bias.clone()
        out[keys.NORM_STEPS] = model.norm_steps.clone()
    return dict(sorted(out.items()))


def load_term_state(model: PackedModel, state: dict[str, torch.Tensor]) -> None:
    """Inverse of ``term_state``: fill the packed parameters from per-term tensors (on the CPU,
    then one copy back per packed tensor)."""
    L, cfg, onto, g = model.layout, model.cfg, model.onto, model.genes
    with torch.no_grad(), moved(model, HOST, write_back=True):
        g.load_shared_state(state)
        for t, wi, j in term_slots(model):
            tid, w = onto.term_ids[t], int(L.width[t])
            dense_in = int(L.child_in[t] + L.extra_width[t])
            W = state[f"{keys.term(tid)}.weight"]
            if t == onto.root and L.root_extra:
                model.root_const.copy_(W[:, -1])
                W = W[:, :-1]
            model.weights[wi][j].zero_()
            model.weights[wi][j, :w, :dense_in] = W[:, :dense_in]
            lo, hi = int(L.offset[t]), int(L.offset[t + 1])
            model.bias[lo:hi] = state[f"{keys.term(tid)}.bias"]
            if L.direct[t]:
                g.load_term_gene_columns(t, W[:, dense_in:])
                g.load_term_layer_state(t, tid, state)
            for k in range(1, cfg.depth):
                model.deep_weights[wi][k - 1, j].zero_()
                model.deep_weights[wi][k - 1, j, :w, :w] = state[f"{keys.deep(tid, k)}.weight"]
                model.deep_bias[k - 1, lo:hi] = state[f"{keys.deep(tid, k)}.bias"]
            for k in range(cfg.depth):
                p = keys.norm(tid, k)
                if cfg.norm != "none":
                    model.norm_weight[k, lo:hi] = state[f"{p}.weight"]
                    model.norm_bias[k, lo:hi] = state[f"{p}.bias"]
                if cfg.norm in ("batch", "batch-frozen"):
                    model.running_mean[k, lo:hi] = state[f"{p}.running_mean"]
                    model.running_var[k, lo:hi] = state[f"{p}.running_var"]
            if t != onto.root:
                model.aux_weight[lo:hi] = state[f"{keys.aux(tid)}.weight"].view(-1)
                model.aux_bias[t] = state[f"{keys.aux(tid)}.bias"][0]
        model.head_weight.copy_(state[f"{keys.HEAD}.weight"].view(-1))
        model.head_bias.copy_(state[f"{keys.HEAD}.bias"])
        if keys.NORM_STEPS in state:
            model.norm_steps.copy_(state[keys.NORM_STEPS])
