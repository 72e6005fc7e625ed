"""Gene inputs of the fast engine, computed on the sparse perturbation list.

Every variant's gene block enters a term through that term's Linear, so the engine only needs its
contribution to the pre-activations, ``gene_pre`` [N neurons, B]. A genotype deletes 1-3 genes, so
each variant is written as (wild-type part, computed once per forward, batch-independent) plus
(corrections for the perturbed genes), both O(what is perturbed):

* binary:  z_t += sum_{g in direct(t), disrupted} W_t[:, g]        (gene_state disrupted-one)
           z_t += sum_{g in direct(t)} W_t[:, g] - sum_{disrupted} W_t[:, g]   (present-one)
* embedding (flattened):  z_t += sum_g s_g A_{t,g} e_g
                                = sum_g A_{t,g} e_g - sum_{deleted} A_{t,g} e_g
* pooled:  z_t += P_t (sum_g e_g - sum_{deleted} e_g)
* deepset / attention: a d-vector per (sample, term) from the present genes, then P_t.

The Lua gene layers output a state-like block (``extra`` rows) instead; see ``DCell``. The
masked layer's rows are G_t restricted to direct(t); the dense layer (``gene_layer =
"dense-layer"``, the saved Lua model) reads every gene: with G [N_extra, G] stacking every G_t,

* dense:   extra = c + sum_{g disrupted} G[:, g]          (disrupted-one)
           extra = (c + sum_g G[:, g]) - sum_{g disrupted} G[:, g]   (present-one)

"Disrupted" always means disrupted *and visible* under the ``deletion_rule``: the layout's
per-gene perturbation lists hold only the visible incidences (``dcellx.nn.deletion``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from dcellx.batch import PerturbationBatch
from dcellx.nn.layout import ModelLayout
from dcellx.nn.ops import take
from dcellx.nn.reference import mlp


def expand_csr(
    ptr: torch.Tensor, items: torch.Tensor, keys: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """For each key k (with repetition), its CSR items ``items[ptr[k]:ptr[k+1]]``.
    Returns (which key position each item came from, item)."""
    starts = ptr[keys]
    lens = ptr[keys + 1] - starts
    which = torch.repeat_interleave(torch.arange(len(keys), device=keys.device), lens)
    offs = torch.arange(len(which), device=keys.device) - torch.repeat_interleave(
        torch.cumsum(lens, 0) - lens, lens
    )
    return which, items[starts[which] + offs]


@dataclass
class GeneContribution:
    """Gene part of every term's pre-activation: ``base`` [N] (batch-independent, may be None)
    plus sparse entries (neuron, sample, value) grouped by stratum (``ptr`` [S+1])."""

    base: torch.Tensor | None
    neuron: torch.Tensor
    sample: torch.Tensor
    value: torch.Tensor
    ptr: list[int]


class GeneInput(nn.Module):
    """Owns the gene-side parameters and produces ``gene_pre`` (or Lua's ``extra`` rows)."""

    def __init__(self, layout: ModelLayout) -> None:
        super().__init__()
        L, cfg = layout, layout.cfg
        self.layout, self.cfg = L, cfg
        self.num_neurons = L.num_neurons
        d = cfg.embedding_dim
        buf = lambda name, arr: self.register_buffer(name, torch.as_tensor(arr), persistent=False)  # noqa: E731
        buf("gene_elem_ptr", L.gene_elem_ptr)
        buf("gene_elems", L.gene_elems)
        buf("elem_neuron", L.elem_neuron)
        buf("elem_gene", L.elem_gene)
        buf("gene_inc_ptr", L.gene_inc_ptr)
        buf("gene_incs", L.gene_incs)
        buf("inc_gene", L.inc_gene)
        has = L.direct > 0
        self.gterms = torch.from_numpy(has.nonzero()[0])  # terms with direct genes
        tg = torch.full((len(L.width),), -1, dtype=torch.long)
        tg[self.gterms] = torch.arange(len(self.gterms))
        buf("term_to_g", tg)
        buf("inc_tg", tg[torch.from_numpy(L.inc_term)])
        gneur = torch.from_numpy(has[L.term_of_neuron].nonzero()[0])
        buf("gneurons", gneur)  # neurons of terms with genes
        buf("gneuron_tg", tg[torch.from_numpy(L.term_of_neuron)][gneur])
        # neuron -> row of gene_P; term -> its neurons (CSR); term -> stratum
        grow = torch.full((L.num_neurons,), -1, dtype=torch.long)
        grow[gneur] = torch.arange(len(gneur))
        buf("gneuron_row", grow)
        buf("neuron_ptr", torch.from_numpy(L.offset))
        buf("neuron_ids", torch.arange(L.num_neurons))
        buf("stratum_of_term", torch.from_numpy(L.onto.strata))
        self.kind = (
            cfg.gene_layer
            if cfg.gene_layer != "direct"
            else ("binary" if cfg.variant == "binary" else cfg.variant)
        )
        if self.kind in ("binary", "masked-layer"):
            self.gene_w = nn.Parameter(torch.zeros(L.num_elements))
        if self.kind == "masked-layer":
            # element e writes into the extra row of its term: extra_offset[t] + unit
            inc_t = L.inc_term[L.elem_inc]
            buf("elem_extra", L.extra_offset[inc_t] + L.elem_unit)
            self.gene_b = nn.Parameter(torch.zeros(L.num_extra))
        if self.kind == "dense-layer":
            # rows: the extra rows of every term with direct genes (extra_offset order)
            self.gene_dense = nn.Parameter(torch.zeros(L.num_extra, L.onto.num_genes))
            self.gene_b = nn.Parameter(torch.zeros(L.num_extra))
        if self.kind not in ("binary", "masked-layer", "dense-layer"):
            self.embedding = nn.Parameter(torch.zeros(L.onto.num_genes, d))
        if self.kind == "embedding":
            self.gene_A = nn.Parameter(torch.zeros(L.num_elements, d))
        if self.kind in ("embedding-pooled", "embedding-deepset", "embedding-attention"):
            self.gene_P = nn.Parameter(torch.zeros(len(gneur), d))
        if self.kind == "embedding-deepset":
            self.phi = mlp([d, cfg.deepset_hidden, cfg.deepset_hidden])
            self.rho = mlp([cfg.deepset_hidden, cfg.deepset_hidden, d])
        if self.kind == "embedding-attention":
            self.attn = nn.ModuleDict({k: nn.Linear(d, d) for k in ("q", "k", "v")})
            self._attention_buckets(L)

    # -- helpers -----------------------------------------------------------------------------
    def _perturbed_elements(
        self, batch: PerturbationBatch
    ) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """(batch row, element) for every element of every perturbed gene, grouped by stratum,
        and the per-stratum pointer into them."""
        S = self.layout.onto.num_strata
        dev = batch.gene.device
        keys = (batch.gene.unsqueeze(0) * S + torch.arange(S, device=dev).unsqueeze(1)).view(-1)
        which, elems = expand_csr(self.gene_elem_ptr, self.gene_elems, keys)
        lens = (self.gene_elem_ptr[keys + 1] - self.gene_elem_ptr[keys]).view(S, -1).sum(1)
        ptr = [0] + torch.cumsum(lens, 0).tolist()
        return batch.sample.repeat(S)[which], elems, ptr

    def _perturbed_incidences(self, batch: PerturbationBatch) -> tuple[torch.Tensor, torch.Tensor]:
        which, incs = expand_csr(self.gene_inc_ptr, self.gene_incs, batch.gene)
        return batch.sample[which], incs

    def _scatter(self, b: torch.Tensor, rows: torch.Tensor, vals: torch.Tensor, n: int, B: int):
        out = torch.zeros(n * B, dtype=vals.dtype, device=vals.device)
        return out.index_add(0, rows * B + b, vals).view(n, B)

    # -- forward -----------------------------------------------------------------------------
    def forward(self, batch: PerturbationBatch) -> GeneContribution | torch.Tensor:
        """A ``GeneContribution`` for the direct variants; Lua's gene-layer output
        [N_extra, B] (a dense input block) for the masked layer."""
        B, N = batch.size, self.num_neurons
        present = self.cfg.gene_state == "present-one"  # bits s_g = 1 - x_g
        if self.kind == "dense-layer":
            cols = self.gene_dense.index_select(1, batch.gene)  # [N_extra, K]: G[:, g] per pair
            out = torch.zeros(self.layout.num_extra, B, dtype=cols.dtype, device=cols.device)
            out = out.index_add(1, batch.sample, cols)
            if present:
                return (self.gene_b + self.gene_dense.sum(1)).unsqueeze(1) - out
            return out + self.gene_b.unsqueeze(1)
        if self.kind == "masked-layer":
            b, e, _ = self._perturbed_elements(batch)
            n_x = self.layout.num_extra
            w = take(self.gene_w, e)
            w = -w if present else w
            out = self._scatter(b, self.elem_extra[e], w, n_x, B)
            c = self.gene_b
            if present:  # G_t 1 + c_t: every gene's column, batch-independent
                c = c.index_add(0, self.elem_extra, self.gene_w)
            return out + c.unsqueeze(1)
        if self.kind == "binary":
            b, e, ptr = self._perturbed_elements(batch)
            if not present:
                return GeneContribution(None, self.elem_neuron[e], b, take(self.gene_w, e), ptr)
            base = torch.zeros(N, dtype=self.gene_w.dtype, device=self.gene_w.device)
            base = base.index_add(0, self.elem_neuron, self.gene_w)
            return GeneContribution(base, self.elem_neuron[e], b, -take(self.gene_w, e), ptr)
        E = self.embedding
        if self.kind == "embedding":
            # C_e = A_e . e_g(e): the binary-equivalent column entry of element e
            C = (self.gene_A * take(E, self.elem_gene)).sum(1)
            base = torch.zeros(N, dtype=C.dtype, device=C.device)
            base = base.index_add(0, self.elem_neuron, C)
            b, e, ptr = self._perturbed_elements(batch)
            return GeneContribution(base, self.elem_neuron[e], b, -take(C, e), ptr)
        # d-vectors per term with genes: wild type R0 [Tg, d]; for the (term, sample) pairs a
        # deletion touches, R [P, d]. The term's Linear maps them through P_t [w_t, d].
        R0, pt, pb, R = self._term_vectors(batch)
        pre0 = (R0.index_select(0, self.gneuron_tg) * self.gene_P).sum(1)  # [Ng]
        base = torch.zeros(N, dtype=pre0.dtype, device=pre0.device)
        base = base.index_copy(0, self.gneurons, pre0)
        # expand each affected pair over its term's neurons; sorted by term = by stratum
        t = self.gterms.to(pt.device)[pt]
        order = torch.argsort(t, stable=True)
        t, pt, pb = t[order], pt[order], pb[order]
        dR = take(R, order) - take(R0, pt)
        which, neuron = expand_csr(self.neuron_ptr, self.neuron_ids, t)
        value = (take(self.gene_P, self.gneuron_row[neuron]) * take(dR, which)).sum(1)
        S = self.layout.onto.num_strata
        counts = torch.bincount(self.stratum_of_term[t[which]], minlength=S)
        ptr = [0] + torch.cumsum(counts, 0).tolist()
        return GeneContribution(base, neuron, pb[which], value, ptr)

    def _affected_pairs(self, batch: PerturbationBatch):
        """Deleted (sample, incidence) entries and the distinct (term, sample) pairs they touch:
        (sample, incidence, pair term, pair sample, pair of each entry)."""
        b, inc = self._perturbed_incidences(batch)
        pair = self.inc_tg[inc] * batch.size + b
        upair, pinv = torch.unique(pair, return_inverse=True)
        return b, inc, upair // batch.size, upair % batch.size, pinv

    def _pool(self, F: torch.Tensor, batch: PerturbationBatch):
        """Sum over present direct genes of per-gene features F [G, h]: wild type [Tg, h] and
        the affected (term, sample) pairs [P, h]."""
        Tg = len(self.gterms)
        base = torch.zeros(Tg, F.shape[1], dtype=F.dtype, device=F.device)
        base = base.index_add(0, self.inc_tg, take(F, self.inc_gene))
        b, inc, pt, pb, pinv = self._affected_pairs(batch)
        delta = torch.zeros(len(pt), F.shape[1], dtype=F.dtype, device=F.device)
        delta = delta.index_add(0, pinv, take(F, self.inc_gene[inc]))
        return base, pt, pb, take(base, pt) - delta

    def _term_vectors(self, batch: PerturbationBatch):
        """(R0 [Tg, d], pair term [P], pair sample [P], R [P, d])."""
        if self.kind == "embedding-pooled":
            return self._pool(self.embedding, batch)
        if self.kind == "embedding-deepset":
            base, pt, pb, pooled = self._pool(self.phi(self.embedding), batch)
            return self.rho(base), pt, pb, self.rho(pooled)
        return self._attention(batch)

    # -- attention -----------------------------------------------------------------------------
    def _attention_buckets(self, L: ModelLayout) -> None:
        """Terms with genes grouped by gene count (powers of two) for padded base attention."""
        n = L.direct[self.gterms.numpy()]
        keys = torch.from_numpy(n).float().log2().ceil().long().numpy()
        self.att_buckets = []
        for k in sorted(set(keys.tolist())):
            tg = (keys == k).nonzero()[0]
            npad = int(n[tg].max())
            idx = torch.full((len(tg), npad), -1, dtype=torch.long)
            for j, g in enumerate(tg):
                t = int(self.gterms[g])
                lo, hi = int(L.gene_ptr[t]), int(L.gene_ptr[t + 1])
                idx[j, : hi - lo] = torch.arange(lo, hi)  # incidence ids
            name = f"att_bucket_{k}"
            self.register_buffer(name + "_tg", torch.from_numpy(tg), persistent=False)
            self.register_buffer(name + "_inc", idx, persistent=False)
            self.att_buckets.append(name)
        # local position of each incidence inside its term
        self.register_buffer(
            "inc_local",
            torch.from_numpy(__import__("numpy").arange(len(L.inc_term)) - L.gene_ptr[L.inc_term]),
            persistent=False,
        )
        self.register_buffer("tg_ptr", torch.from_numpy(L.gene_ptr[self.gterms.numpy()]))
        self.register_buffer("tg_len", torch.from_numpy(n))

    def _attention_pairs(self, ut, dinc, pinv, q, k, v, Ninc, Dinc, Minc) -> torch.Tensor:
        """Pooled attention output [P, d] of the pairs (term ``ut``) given the deleted incidences
        ``dinc`` (each belonging to pair ``pinv``)."""
        H, dh = q.shape[1], q.shape[2]
        nmax = int(self.tg_len[ut].max())
        ar = torch.arange(nmax, device=q.device)
        qinc = self.tg_ptr[ut].unsqueeze(1) + ar  # [P, nmax] incidences of the pair's term
        qvalid = ar.unsqueeze(0) < self.tg_len[ut].unsqueeze(1)
        qinc = torch.where(qvalid, qinc, torch.zeros_like(qinc))
        # per deleted key j: contributions a_ij v_j and a_ij to every query i of its term
        qg = self.inc_gene[qinc[pinv]]  # [K, nmax]
        kj = take(k, self.inc_gene[dinc])  # [K, H, dh]
        s = torch.einsum("kihc,khc->kih", take(q, qg), kj) / math.sqrt(dh)
        a = torch.exp(s - take(Minc, qinc[pinv]))  # [K, nmax, H]
        P = len(ut)
        dN = torch.zeros(P, nmax, H, dh, dtype=q.dtype, device=q.device)
        dN = dN.index_add(0, pinv, a.unsqueeze(-1) * take(v, self.inc_gene[dinc]).unsqueeze(1))
        dD = torch.zeros(P, nmax, H, dtype=q.dtype, device=q.device).index_add(0, pinv, a)
        # queries that are deleted themselves drop out of the pooled sum
        qdel = torch.zeros(P, nmax, dtype=torch.bool, device=q.device)
        qdel[pinv, self.inc_local[dinc]] = True
        keep = qvalid & ~qdel
        den = take(Dinc, qinc) - dD
        hq = (take(Ninc, qinc) - dN) / den.clamp_min(1e-30).unsqueeze(-1)
        hq = torch.where(keep[:, :, None, None], hq, torch.zeros_like(hq))
        return hq.sum(1).flatten(1)

    def _attention(self, batch: PerturbationBatch) -> torch.Tensor:
        """Exact masked attention: full-set statistics per term once, then for each sample the
        deleted keys' terms are subtracted from numerator/denominator and deleted queries dropped:

            h_i = (N_i - sum_{j in Del} a_ij v_j) / (D_i - sum_{j in Del} a_ij),
            a_ij = exp(s_ij - m_i)
        """
        cfg = self.cfg
        H = cfg.attention_heads
        dh = cfg.embedding_dim // H
        E = self.embedding
        q = self.attn["q"](E).view(-1, H, dh)
        k = self.attn["k"](E).view(-1, H, dh)
        v = self.attn["v"](E).view(-1, H, dh)
        n_inc = len(self.inc_gene)
        Ninc = torch.zeros(n_inc, H, dh, dtype=E.dtype, device=E.device)
        Dinc = torch.zeros(n_inc, H, dtype=E.dtype, device=E.device)
        Minc = torch.zeros(n_inc, H, dtype=E.dtype, device=E.device)
        for name in self.att_buckets:
            inc = getattr(self, name + "_inc")  # [Tk, n]
            valid = inc >= 0
            g = self.inc_gene[inc.clamp(min=0)]  # [Tk, n]
            s = torch.einsum("tihc,tjhc->thij", take(q, g), take(k, g)) / math.sqrt(dh)
            s = s.masked_fill(~valid[:, None, None, :], float("-inf"))
            m = s.amax(-1)  # [Tk, H, n]
            a = torch.exp(s - m.unsqueeze(-1))
            num = torch.einsum("thij,tjhc->tihc", a, take(v, g))
            den = a.sum(-1).transpose(1, 2)  # [Tk, n, H]
            flat = inc[valid]
            Ninc = Ninc.index_copy(0, flat, num[valid])
            Dinc = Dinc.index_copy(0, flat, den[valid])
            Minc = Minc.index_copy(0, flat, m.transpose(1, 2)[valid])
        Tg = len(self.gterms)
        # base pooled output per term (no deletions)
        h = Ninc / Dinc.unsqueeze(-1)
        base = torch.zeros(Tg, H, dh, dtype=E.dtype, device=E.device).index_add(0, self.inc_tg, h)
        base = base.flatten(1)
        b, dinc, ut, ub, pinv = self._affected_pairs(batch)  # deleted (sample, incidence)
        if len(dinc) == 0:
            return base, ut, ub, take(base, ut)
        # pairs grouped by their term's gene count (powers of two): padding, and so memory, stays
        # proportional to the affected terms' own sizes instead of the largest term's
        size_key = torch.log2(self.tg_len[ut].double()).ceil().long()
        pooled = torch.zeros(len(ut), H * dh, dtype=E.dtype, device=E.device)
        for key in torch.unique(size_key).tolist():
            psel = (size_key == key).nonzero().squeeze(1)
            local = torch.full((len(ut),), -1, dtype=torch.long, device=E.device)
            local[psel] = torch.arange(len(psel), device=E.device)
            esel = (local[pinv] >= 0).nonzero().squeeze(1)
            part = self._attention_pairs(
                ut[psel], dinc[esel], local[pinv[esel]], q, k, v, Ninc, Dinc, Minc
            )
            pooled = pooled.index_copy(0, psel, part)
        return base, ut, ub, pooled
