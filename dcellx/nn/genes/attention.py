r"""``embedding-attention``: R_t = sum over the present genes i of direct(t) of their self-attention
output among the present genes, per head

.. math::
    h_i = \sum_{j \text{ present}} a_{ij} v_j, \qquad
    a_{ij} = \mathrm{softmax}_j\big(q_i^\top k_j / \sqrt{d_h}\big),

with q, k, v Linear(d -> d) of e_g split into ``attention_heads`` heads (``attn``), shared by every
term. Computed exactly from the full-set statistics of each term and, per sample, the deleted
keys' terms subtracted (``_attention``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from dcellx.batch import PerturbationBatch, to_device
from dcellx.nn.genes.term_vectors import TermVectorInput
from dcellx.nn.layout import ModelLayout
from dcellx.nn.linear_init import linear_init
from dcellx.nn.ops import index_add, take


class AttentionGenes(TermVectorInput):
    kind = "embedding-attention"
    set_modules = ("attn",)

    def __init__(self, layout: ModelLayout) -> None:
        super().__init__(layout)
        d = layout.cfg.embedding_dim
        self.attn = nn.ModuleDict({k: nn.Linear(d, d) for k in ("q", "k", "v")})
        self._attention_buckets(layout)

    @classmethod
    def initial_shared_state(
        cls, layout: ModelLayout, gen: torch.Generator, dtype: torch.dtype
    ) -> dict[str, torch.Tensor]:
        state = super().initial_shared_state(layout, gen, dtype)
        d = layout.cfg.embedding_dim
        for name in ("q", "k", "v"):
            w, b = linear_init(gen, d, d, layout.cfg, dtype)
            state[f"attn.{name}.weight"], state[f"attn.{name}.bias"] = w, b
        return state

    def _term_vectors(self, batch: PerturbationBatch):
        return self._attention(batch)

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
            # the real (term, gene) places of the padded block, flat: a mask without a sync
            pos = (idx >= 0).reshape(-1).nonzero().squeeze(1)
            self.register_buffer(name + "_pos", pos, persistent=False)
            self.register_buffer(name + "_flat", idx.reshape(-1)[pos], persistent=False)
            self.att_buckets.append(name)
        # local position of each incidence inside its term
        self.register_buffer(
            "inc_local",
            torch.from_numpy(np.arange(len(L.inc_term)) - L.gene_ptr[L.inc_term]),
            persistent=False,
        )
        self.register_buffer("tg_ptr", torch.from_numpy(L.gene_ptr[self.gterms.numpy()]))
        self.register_buffer("tg_len", torch.from_numpy(n))
        self.tg_len_host = n

    def _attention_pairs(self, ut, dinc, pinv, nmax: int, q, k, v, Ninc, Dinc, Minc):
        """Pooled attention output [P, d] of the pairs (term ``ut``, at most ``nmax`` genes)
        given the deleted incidences ``dinc`` (each belonging to pair ``pinv``)."""
        H, dh = q.shape[1], q.shape[2]
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
        dN = index_add(dN, pinv, a.unsqueeze(-1) * take(v, self.inc_gene[dinc]).unsqueeze(1))
        dD = index_add(torch.zeros(P, nmax, H, dtype=q.dtype, device=q.device), pinv, a)
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
            pos, flat = getattr(self, name + "_pos"), getattr(self, name + "_flat")
            Ninc = Ninc.index_copy(0, flat, num.reshape(-1, H, dh).index_select(0, pos))
            Dinc = Dinc.index_copy(0, flat, den.reshape(-1, H).index_select(0, pos))
            Minc = Minc.index_copy(0, flat, m.transpose(1, 2).reshape(-1, H).index_select(0, pos))
        Tg = len(self.gterms)
        # base pooled output per term (no deletions)
        h = Ninc / Dinc.unsqueeze(-1)
        base = index_add(torch.zeros(Tg, H, dh, dtype=E.dtype, device=E.device), self.inc_tg, h)
        base = base.flatten(1)
        pairs = self._affected_pairs(batch)  # deleted (sample, incidence)
        ut, dinc = pairs.term, pairs.inc
        if len(dinc) == 0:
            return base, pairs, take(base, ut)
        # pairs grouped by their term's gene count (powers of two): padding, and so memory, stays
        # proportional to the affected terms' own sizes instead of the largest term's (groups
        # found on the host)
        n_host = self.tg_len_host[pairs.term_host]
        size_key = np.ceil(np.log2(n_host.astype(np.float64))).astype(np.int64)
        pooled = torch.zeros(len(ut), H * dh, dtype=E.dtype, device=E.device)
        for key in np.unique(size_key):
            psel_host = np.nonzero(size_key == key)[0]
            local = np.full(len(size_key), -1, np.int64)
            local[psel_host] = np.arange(len(psel_host))
            esel_host = np.nonzero(local[pairs.pair_host] >= 0)[0]
            psel, esel = to_device(psel_host, E.device), to_device(esel_host, E.device)
            epair = to_device(local[pairs.pair_host[esel_host]], E.device)
            nmax = int(n_host[psel_host].max())
            part = self._attention_pairs(
                ut[psel], dinc[esel], epair, nmax, q, k, v, Ninc, Dinc, Minc
            )
            pooled = pooled.index_copy(0, psel, part)
        return base, pairs, pooled
