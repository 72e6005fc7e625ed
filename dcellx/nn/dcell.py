"""``DCell``: the fast engine. No Python loop over terms or samples in the forward pass.

Per stratum s (children always sit in lower strata):

1. gather the input rows of every term in s from the states of lower strata (``index_select``);
2. one padded ``bmm`` per bucket of similar-sized terms computes W_t I(t) for all of them;
3. add bias and the sparse gene contribution (``GeneInput``), apply tanh and the normalisation
   over the stratum's neurons at once (BatchNorm is per neuron, so one call covers every term);
4. auxiliary heads of every term in s at once: a per-neuron product summed per term.

States are kept neuron-major ([neurons, batch]) so that gathering a term's inputs is a row gather.
Parameters live packed per bucket; ``term_state_dict``/``load_term_state_dict`` convert to and from
the per-GO-term names of ``ReferenceDCell`` (used for checkpoints, so they are inspectable by id).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dcellx.batch import PerturbationBatch
from dcellx.nn.config import ModelConfig
from dcellx.nn.genes import GeneInput
from dcellx.nn.layout import ModelLayout
from dcellx.nn.norm import batch_norm_rows
from dcellx.ontology.compiled import CompiledOntology


class DCell(nn.Module):
    """Forward: ``PerturbationBatch`` -> (root prediction [B], auxiliary [B, T-1])."""

    def __init__(self, onto: CompiledOntology, cfg: ModelConfig, layout: ModelLayout | None = None):
        super().__init__()
        self.onto, self.cfg = onto, cfg
        self.layout = L = layout or ModelLayout(onto, cfg)
        N, T = L.num_neurons, onto.num_terms
        self.genes = GeneInput(L)
        self.keep_states = False
        # diagnostics: when a list, forward appends (stratum, layer, z, pre, h) detached
        self.trace: list | None = None
        self.last_states: torch.Tensor | None = None
        self.weights = nn.ParameterList()
        self.deep_weights = nn.ParameterList()
        self._plans = []
        # Fan-out of every source (a stratum's states, or Lua's gene-layer rows): one gather of
        # all rows any later stratum reads, split per consumer. Gathering per (consumer, source)
        # instead would zero-fill a full-size source gradient for every consumer in backward.
        consumers: dict[int, list[tuple[int, np.ndarray]]] = {}
        for s, plan in enumerate(L.strata):
            for src, rows in plan.sources:
                consumers.setdefault(src, []).append((s, rows))
        self._fanout: dict[int, tuple[list[int], list[int]]] = {}
        for src, uses in consumers.items():
            rows = np.concatenate([r for _, r in uses])
            self.register_buffer(f"fan_{src + 1}", torch.from_numpy(rows), persistent=False)
            self._fanout[src] = ([s for s, _ in uses], [len(r) for _, r in uses])
        for s, plan in enumerate(L.strata):
            srcs = [src for src, _ in plan.sources]
            bks = []
            for k, b in enumerate(plan.buckets):
                self.weights.append(nn.Parameter(torch.zeros(len(b.terms), b.out_pad, b.fan_pad)))
                if cfg.depth > 1:
                    # pad map: padded output row -> stratum-local neuron, or the zero row N_s
                    loc = np.where(
                        b.out_pos >= 0,
                        b.out_pos - plan.neurons[0],
                        plan.neurons[1] - plan.neurons[0],
                    )
                    self.register_buffer(f"pad_{s}_{k}", torch.from_numpy(loc), persistent=False)
                    self.deep_weights.append(
                        nn.Parameter(torch.zeros(cfg.depth - 1, len(b.terms), b.out_pad, b.out_pad))
                    )
                bks.append((len(self.weights) - 1, len(b.terms), b.fan_pad, b.out_pad))
            # one gather per stratum for all its buckets (a gather per bucket would zero-fill the
            # whole stratum input once per bucket in the backward pass)
            in_rows = np.concatenate([b.in_rows for b in plan.buckets])
            self.register_buffer(f"in_{s}", torch.from_numpy(in_rows), persistent=False)
            self.register_buffer(f"unpad_{s}", torch.from_numpy(plan.unpad), persistent=False)
            local_term = L.term_of_neuron[plan.neurons[0] : plan.neurons[1]] - plan.terms[0]
            self.register_buffer(f"lterm_{s}", torch.from_numpy(local_term), persistent=False)
            self._plans.append(
                (plan.neurons, (int(plan.terms[0]), int(plan.terms[-1]) + 1), srcs, bks)
            )
        self.bias = nn.Parameter(torch.zeros(N))
        self.deep_bias = nn.Parameter(torch.zeros(max(cfg.depth - 1, 0), N))
        n_norm = cfg.depth if cfg.norm != "none" else 0
        self.norm_weight = nn.Parameter(torch.ones(n_norm, N))
        self.norm_bias = nn.Parameter(torch.zeros(n_norm, N))
        n_run = cfg.depth if cfg.norm in ("batch", "batch-frozen") else 0
        self.register_buffer("running_mean", torch.zeros(n_run, N))
        self.register_buffer("running_var", torch.ones(n_run, N))
        self.register_buffer("norm_steps", torch.zeros((), dtype=torch.long))
        self.aux_weight = nn.Parameter(torch.zeros(N))  # root's entries unused (kept at zero)
        self.aux_bias = nn.Parameter(torch.zeros(T))
        self.head_weight = nn.Parameter(torch.zeros(int(L.width[onto.root])))
        self.head_bias = nn.Parameter(torch.zeros(1))
        # root_extra_input: W_root[:, last] times the constant 1, a second root bias; the root is
        # alone in the top stratum, so it is added to that stratum's pre-activations
        assert L.strata[-1].terms.tolist() == [onto.root]
        self.root_const = nn.Parameter(torch.zeros(int(L.width[onto.root]) * L.root_extra))
        self._stratum_sizes = [p.neurons[1] - p.neurons[0] for p in L.strata]
        self._stratum_terms = [len(p.terms) for p in L.strata]
        self.register_buffer("term_of_neuron", torch.from_numpy(L.term_of_neuron), persistent=False)

    # -- forward -------------------------------------------------------------------------------
    def _norm(self, z: torch.Tensor, layer: int, n0: int, n1: int, s: int) -> torch.Tensor:
        """z [N_s, B] -> normalised, per neuron (batch) or per term (layer)."""
        cfg = self.cfg
        if cfg.norm == "none":
            return z
        w, b = self._split_norm_w[layer][s], self._split_norm_b[layer][s]
        if cfg.norm == "layer":
            lt = getattr(self, f"lterm_{s}")
            n_terms = int(lt[-1]) + 1
            cnt = torch.zeros(n_terms, dtype=z.dtype, device=z.device).index_add(
                0, lt, torch.ones_like(lt, dtype=z.dtype)
            )
            mean = torch.zeros(n_terms, z.shape[1], dtype=z.dtype, device=z.device).index_add(
                0, lt, z
            ) / cnt.unsqueeze(1)
            c = z - mean.index_select(0, lt)
            var = torch.zeros_like(mean).index_add(0, lt, c * c) / cnt.unsqueeze(1)
            zn = c / torch.sqrt(var.index_select(0, lt) + cfg.bn_eps)
            return zn * w.unsqueeze(1) + b.unsqueeze(1)
        frozen = cfg.norm == "batch-frozen" and self.norm_steps >= cfg.bn_freeze_after
        out = batch_norm_rows(
            z.t(),
            self.running_mean[layer, n0:n1],
            self.running_var[layer, n0:n1],
            w,
            b,
            self.training and not frozen,
            cfg.bn_momentum,
            cfg.bn_eps,
        )
        return out.t()

    @staticmethod
    def _add_genes(z, genes, base_s, s: int, n0: int, B: int) -> torch.Tensor:
        """z [N_s, B] + the stratum's gene contribution (dense base + sparse entries)."""
        if base_s is not None:
            z = z + base_s[s].unsqueeze(1)
        lo, hi = genes.ptr[s], genes.ptr[s + 1]
        if hi > lo:
            idx = (genes.neuron[lo:hi] - n0) * B + genes.sample[lo:hi]
            z = z.reshape(-1).index_add(0, idx, genes.value[lo:hi]).view(z.shape)
        return z

    def _block(self, z, layer, n0, n1, s):
        if self.cfg.block == "linear-tanh-norm":
            pre = torch.tanh(z)
            h = self._norm(pre, layer, n0, n1, s)
        else:
            pre = self._norm(z, layer, n0, n1, s)
            h = torch.tanh(pre)
        if self.trace is not None:
            self.trace.append((s, layer, z.detach(), pre.detach(), h.detach()))
        return pre, h

    def stratum_weight_grad_norms(self) -> list[float]:
        """L2 norm of the term-Linear weight gradients per stratum (after a backward pass)."""
        out = []
        for _, _, _, bks in self._plans:
            sq = 0.0
            for wi, *_ in bks:
                g = self.weights[wi].grad
                if g is not None:
                    sq += float((g * g).sum())
            out.append(sq**0.5)
        return out

    def forward(self, batch: PerturbationBatch) -> tuple[torch.Tensor, torch.Tensor]:
        cfg, B = self.cfg, batch.size
        gene_out = self.genes(batch)
        lua = cfg.gene_layer != "direct"
        extra, genes = (gene_out, None) if lua else (None, gene_out)
        # Per-stratum views through one split each: the backward of a split is a single cat,
        # while slicing a parameter per stratum would zero-fill a full-size gradient per slice.
        sizes = self._stratum_sizes
        base = genes.base if genes is not None else None
        base_s = torch.split(base, sizes) if base is not None else None
        bias_s = torch.split(self.bias, sizes)
        aux_w_s = torch.split(self.aux_weight, sizes)
        aux_b_s = torch.split(self.aux_bias, self._stratum_terms)
        deep_b_s = [torch.split(self.deep_bias[k], sizes) for k in range(cfg.depth - 1)]
        self._split_norm_w = [torch.split(w, sizes) for w in self.norm_weight]
        self._split_norm_b = [torch.split(b, sizes) for b in self.norm_bias]
        outs: list[torch.Tensor] = []
        aux: list[torch.Tensor] = []
        fed: dict[tuple[int, int], torch.Tensor] = {}  # (source, consumer) -> rows

        def fan_out(src: int, states: torch.Tensor) -> None:
            if src in self._fanout:
                who, sizes = self._fanout[src]
                rows = states.index_select(0, getattr(self, f"fan_{src + 1}"))
                for s_, part in zip(who, torch.split(rows, sizes), strict=True):
                    fed[(src, s_)] = part

        if extra is not None:
            fan_out(-1, extra)
        for s, ((n0, n1), (t0, t1), srcs, bks) in enumerate(self._plans):
            parts = [fed.pop((src, s)) for src in srcs]
            parts.append(torch.zeros(1, B, dtype=self.bias.dtype, device=self.bias.device))
            X = torch.cat(parts, 0)
            Xall = X.index_select(0, getattr(self, f"in_{s}"))
            Xks = torch.split(Xall, [Tk * fp for _, Tk, fp, _ in bks]) if len(bks) > 1 else [Xall]
            ys = []
            for (wi, Tk, fp, op), Xk in zip(bks, Xks, strict=True):
                ys.append(torch.bmm(self.weights[wi], Xk.view(Tk, fp, B)).view(Tk * op, B))
            Y = torch.cat(ys, 0) if len(ys) > 1 else ys[0]
            z = Y.index_select(0, getattr(self, f"unpad_{s}")) + bias_s[s].unsqueeze(1)
            if genes is not None:
                z = self._add_genes(z, genes, base_s, s, n0, B)
            if t1 - 1 == self.onto.root and self.layout.root_extra:
                z = z + self.root_const.unsqueeze(1)
            pre, h = self._block(z, 0, n0, n1, s)
            for layer in range(1, cfg.depth):
                hp = torch.cat([h, h.new_zeros(1, B)], 0)
                ys = []
                for k, (wi, Tk, _, op) in enumerate(bks):
                    Hk = hp.index_select(0, getattr(self, f"pad_{s}_{k}")).view(Tk, op, B)
                    ys.append(torch.bmm(self.deep_weights[wi][layer - 1], Hk).view(Tk * op, B))
                Y = torch.cat(ys, 0) if len(ys) > 1 else ys[0]
                z = Y.index_select(0, getattr(self, f"unpad_{s}"))
                z = z + deep_b_s[layer - 1][s].unsqueeze(1)
                pre, h = self._block(z, layer, n0, n1, s)
            outs.append(h)
            fan_out(s, h)
            if t1 - 1 == self.onto.root:
                continue  # the root has the main head instead of an auxiliary one
            a_in = pre if cfg.aux_input == "pre-norm" else h
            lt = getattr(self, f"lterm_{s}")
            contrib = a_in * aux_w_s[s].unsqueeze(1)
            a = torch.zeros(t1 - t0, B, dtype=contrib.dtype, device=contrib.device)
            a = a.index_add(0, lt, contrib) + aux_b_s[s].unsqueeze(1)
            aux.append(torch.tanh(a) if cfg.aux_head == "tanh-linear" else a)
        if self.training:
            self.norm_steps += 1
        if self.keep_states:  # for diagnostics (RLIPP, saturation): all neuron states [N, B]
            self.last_states = torch.cat(outs, 0).detach()
        root = self.head_weight @ outs[-1] + self.head_bias
        return root, torch.cat(aux, 0).t()

    def l2_parameters(self) -> list[torch.Tensor]:
        """Weight matrices penalised by the L2 term (biases and norm parameters excluded)."""
        g = self.genes
        out = list(self.weights) + list(self.deep_weights) + [self.aux_weight, self.head_weight]
        out.append(self.root_const)
        for name in ("gene_w", "gene_dense", "gene_A", "gene_P", "embedding"):
            if hasattr(g, name):
                out.append(getattr(g, name))
        for mod in ("phi", "rho", "attn"):
            if hasattr(g, mod):
                out += [p for n, p in getattr(g, mod).named_parameters() if n.endswith("weight")]
        return out

    # -- parameter counting ------------------------------------------------------------------
    def num_parameters(self) -> int:
        """True parameter count (bucket padding and unused slots excluded)."""
        state = self.term_state_dict()
        return sum(v.numel() for k, v in state.items() if "running" not in k and k != "norm_steps")

    # -- term-named state ----------------------------------------------------------------------
    def _term_slots(self):
        """Yield (term, bucket weight index, slot j) for every term."""
        for s, plan in enumerate(self.layout.strata):
            for k, b in enumerate(plan.buckets):
                wi = self._plans[s][3][k][0]
                for j, t in enumerate(b.terms):
                    yield int(t), wi, j

    def term_state_dict(self) -> dict[str, torch.Tensor]:
        """State in ``ReferenceDCell`` names (``terms.GO:0006281.weight`` ...), detached copies."""
        L, cfg, onto = self.layout, self.cfg, self.onto
        out: dict[str, torch.Tensor] = {}
        g = self.genes
        with torch.no_grad():
            if cfg.variant != "binary":
                out["gene_embedding.weight"] = g.embedding.detach().clone()
            for mod in ("phi", "rho", "attn"):
                if hasattr(g, mod):
                    for k, v in getattr(g, mod).state_dict().items():
                        out[f"{mod}.{k}"] = v.detach().clone()
            gcols = self._gene_columns()
            for t, wi, j in self._term_slots():
                tid, w = onto.term_ids[t], int(L.width[t])
                dense_in = int(L.child_in[t] + L.extra_width[t])
                W = self.weights[wi][j, :w, :dense_in]
                if gcols is not None and L.gene_in[t] and cfg.gene_layer == "direct":
                    W = torch.cat([W, gcols[t]], 1)
                if t == onto.root and L.root_extra:
                    W = torch.cat([W, self.root_const.view(-1, 1)], 1)
                lo, hi = int(L.offset[t]), int(L.offset[t + 1])
                out[f"terms.{tid}.weight"] = W.clone()
                out[f"terms.{tid}.bias"] = self.bias[lo:hi].clone()
                if cfg.gene_layer != "direct" and L.direct[t]:
                    e0 = int(L.extra_offset[t])
                    if cfg.gene_layer == "masked-layer":
                        out[f"genes.{tid}.weight"] = gcols[t].clone()
                    else:
                        out[f"genes.{tid}.weight"] = g.gene_dense[e0 : e0 + w].clone()
                    out[f"genes.{tid}.bias"] = g.gene_b[e0 : e0 + w].clone()
                for k in range(1, cfg.depth):
                    out[f"deep.{tid}.{k}.weight"] = self.deep_weights[wi][k - 1, j, :w, :w].clone()
                    out[f"deep.{tid}.{k}.bias"] = self.deep_bias[k - 1, lo:hi].clone()
                for k in range(cfg.depth):
                    p = f"norms.{tid}" if k == 0 else f"deep_norms.{tid}.{k}"
                    if cfg.norm != "none":
                        out[f"{p}.weight"] = self.norm_weight[k, lo:hi].clone()
                        out[f"{p}.bias"] = self.norm_bias[k, lo:hi].clone()
                    if cfg.norm in ("batch", "batch-frozen"):
                        out[f"{p}.running_mean"] = self.running_mean[k, lo:hi].clone()
                        out[f"{p}.running_var"] = self.running_var[k, lo:hi].clone()
                if t != onto.root:
                    out[f"aux.{tid}.weight"] = self.aux_weight[lo:hi].view(1, -1).clone()
                    out[f"aux.{tid}.bias"] = self.aux_bias[t : t + 1].clone()
            out["head.weight"] = self.head_weight.view(1, -1).clone()
            out["head.bias"] = self.head_bias.clone()
            out["norm_steps"] = self.norm_steps.clone()
        return dict(sorted(out.items()))

    def _gene_columns(self) -> dict[int, torch.Tensor] | None:
        """Per term, the gene block of its Linear weight ([w_t, gene_in_t]) from packed params."""
        L, g, kind = self.layout, self.genes, self.genes.kind
        if kind == "dense-layer":
            return None  # whole rows of gene_dense, read directly
        if kind in ("binary", "masked-layer", "embedding"):
            flat = g.gene_w if kind != "embedding" else g.gene_A
            cols = {}
            for t in np.nonzero(L.direct)[0]:
                i0, i1 = int(L.gene_ptr[t]), int(L.gene_ptr[t + 1])
                e0, e1 = int(L.inc_elem_start[i0]), int(L.inc_elem_start[i1])
                w = int(L.width[t])
                block = flat[e0:e1].view(i1 - i0, w, -1)  # [n, w, d or 1]
                cols[int(t)] = block.permute(1, 0, 2).reshape(w, -1)
            return cols
        cols = {}
        gl = {int(n): i for i, n in enumerate(g.gneurons.tolist())}
        for t in np.nonzero(L.direct)[0]:
            lo = int(L.offset[t])
            r = gl[lo]
            cols[int(t)] = g.gene_P[r : r + int(L.width[t])]
        return cols

    def load_term_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Inverse of ``term_state_dict``: fill the packed parameters from per-term tensors."""
        L, cfg, onto, g = self.layout, self.cfg, self.onto, self.genes
        with torch.no_grad():
            if cfg.variant != "binary":
                g.embedding.copy_(state["gene_embedding.weight"])
            for mod in ("phi", "rho", "attn"):
                if hasattr(g, mod):
                    sub = {
                        k[len(mod) + 1 :]: v for k, v in state.items() if k.startswith(mod + ".")
                    }
                    getattr(g, mod).load_state_dict(sub)
            gl = (
                {int(n): i for i, n in enumerate(g.gneurons.tolist())}
                if hasattr(g, "gene_P")
                else {}
            )
            for t, wi, j in self._term_slots():
                tid, w = onto.term_ids[t], int(L.width[t])
                dense_in = int(L.child_in[t] + L.extra_width[t])
                W = state[f"terms.{tid}.weight"]
                if t == onto.root and L.root_extra:
                    self.root_const.copy_(W[:, -1])
                    W = W[:, :-1]
                self.weights[wi][j].zero_()
                self.weights[wi][j, :w, :dense_in] = W[:, :dense_in]
                lo, hi = int(L.offset[t]), int(L.offset[t + 1])
                self.bias[lo:hi] = state[f"terms.{tid}.bias"]
                if L.direct[t]:
                    i0, i1 = int(L.gene_ptr[t]), int(L.gene_ptr[t + 1])
                    e0, e1 = int(L.inc_elem_start[i0]), int(L.inc_elem_start[i1])
                    if cfg.gene_layer == "dense-layer":
                        x0 = int(L.extra_offset[t])
                        g.gene_dense[x0 : x0 + w] = state[f"genes.{tid}.weight"]  # [w, G]
                        g.gene_b[x0 : x0 + w] = state[f"genes.{tid}.bias"]
                    elif cfg.gene_layer == "masked-layer":
                        G = state[f"genes.{tid}.weight"]  # [w, n]
                        g.gene_w[e0:e1] = G.t().reshape(-1)
                        x0 = int(L.extra_offset[t])
                        g.gene_b[x0 : x0 + w] = state[f"genes.{tid}.bias"]
                    elif g.kind in ("binary", "embedding"):
                        G = W[:, dense_in:]  # [w, n*d]
                        n = i1 - i0
                        G = G.reshape(w, n, -1).permute(1, 0, 2)  # [n, w, d]
                        flat = g.gene_w if g.kind == "binary" else g.gene_A
                        flat[e0:e1] = G.reshape(flat[e0:e1].shape)
                    else:
                        r = gl[lo]
                        g.gene_P[r : r + w] = W[:, dense_in:]
                for k in range(1, cfg.depth):
                    self.deep_weights[wi][k - 1, j].zero_()
                    self.deep_weights[wi][k - 1, j, :w, :w] = state[f"deep.{tid}.{k}.weight"]
                    self.deep_bias[k - 1, lo:hi] = state[f"deep.{tid}.{k}.bias"]
                for k in range(cfg.depth):
                    p = f"norms.{tid}" if k == 0 else f"deep_norms.{tid}.{k}"
                    if cfg.norm != "none":
                        self.norm_weight[k, lo:hi] = state[f"{p}.weight"]
                        self.norm_bias[k, lo:hi] = state[f"{p}.bias"]
                    if cfg.norm in ("batch", "batch-frozen"):
                        self.running_mean[k, lo:hi] = state[f"{p}.running_mean"]
                        self.running_var[k, lo:hi] = state[f"{p}.running_var"]
                if t != onto.root:
                    self.aux_weight[lo:hi] = state[f"aux.{tid}.weight"].view(-1)
                    self.aux_bias[t] = state[f"aux.{tid}.bias"][0]
            self.head_weight.copy_(state["head.weight"].view(-1))
            self.head_bias.copy_(state["head.bias"])
            if "norm_steps" in state:
                self.norm_steps.copy_(state["norm_steps"])
