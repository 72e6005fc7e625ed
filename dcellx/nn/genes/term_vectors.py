"""What the pooled embedding kinds share: a d-vector per (sample, term with genes) computed from
the term's present genes, R_t, mapped through the term's gene columns P_t [w_t, d]:

    z_t += P_t R_t(present genes)

R_t of the wild type (R0, batch-independent) is computed once per forward; a deletion only
changes R_t for the (term, sample) pairs it touches, so the sparse entries are
P_t (R_t - R0_t) over those pairs' neurons. Each kind gives ``_term_vectors``.

These kinds wait for the device once per forward: the distinct (term, sample) pairs come from
``torch.unique``, whose size only the device knows, and their count sizes what follows (the
attention kind also groups pairs by size). So their shapes follow the batch and they are not
captured in a CUDA graph; the binary, flattened-embedding and Lua kinds are
(``dcellx.nn.genes.base``). Their scatter-adds are reproducible like every other's.
"""

from __future__ import annotations

import torch
from torch import nn

from dcellx.batch import PerturbationBatch
from dcellx.nn.genes.base import EmbeddingInput, GeneContribution, expand_csr
from dcellx.nn.layout import ModelLayout
from dcellx.nn.ops import index_add, take


class TermVectorInput(EmbeddingInput):
    """An embedding kind whose gene block is one d-vector per term (``gene_P``: P_t, the rows
    of the neurons of terms with genes)."""

    def __init__(self, layout: ModelLayout) -> None:
        super().__init__(layout)
        self.gene_P = nn.Parameter(torch.zeros(len(self.gneurons), layout.cfg.embedding_dim))

    def _term_vectors(self, batch: PerturbationBatch):
        """(R0 [Tg, d], pair term [P], pair sample [P], R [P, d])."""
        raise NotImplementedError

    def forward(self, batch: PerturbationBatch) -> GeneContribution:
        N = self.num_neurons
        # d-vectors per term with genes: wild type R0 [Tg, d]; for the (term, sample) pairs a
        # deletion touches, R [P, d]. The term's Linear maps them through P_t [w_t, d].
        R0, pt, pb, R = self._term_vectors(batch)
        pre0 = (R0.index_select(0, self.gneuron_tg) * self.gene_P).sum(1)  # [Ng]
        base = torch.zeros(N, dtype=pre0.dtype, device=pre0.device)
        base = base.index_copy(0, self.gneurons, pre0)
        # expand each affected pair over its term's neurons; sorted by term = by stratum
        t = self.gterms[pt]
        order = torch.argsort(t, stable=True)
        t, pt, pb = t[order], pt[order], pb[order]
        dR = take(R, order) - take(R0, pt)
        # sizes from the host (the pairs came from torch.unique, already a sync; see _pool)
        widths = self.layout.width[t.cpu().numpy()]
        which, neuron = expand_csr(self.neuron_ptr, self.neuron_ids, t, int(widths.sum()))
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
        base = index_add(base, self.inc_tg, take(F, self.inc_gene))
        b, inc, pt, pb, pinv = self._affected_pairs(batch)
        delta = torch.zeros(len(pt), F.shape[1], dtype=F.dtype, device=F.device)
        delta = index_add(delta, pinv, take(F, self.inc_gene[inc]))
        return base, pt, pb, take(base, pt) - delta

    def l2_parameters(self) -> list[torch.Tensor]:
        return [self.gene_P, *super().l2_parameters()]

    def _rows(self, t: int) -> slice:
        """Term t's rows of ``gene_P``."""
        r = int(self.gneuron_row[int(self.layout.offset[t])])
        return slice(r, r + int(self.layout.width[t]))

    def term_gene_columns(self, t: int) -> torch.Tensor:
        return self.gene_P[self._rows(t)]

    def load_term_gene_columns(self, t: int, block: torch.Tensor) -> None:
        self.gene_P[self._rows(t)] = block
