"""What the pooled embedding kinds share: a d-vector per (sample, term with genes) computed from
the term's present genes, R_t, mapped through the term's gene columns P_t [w_t, d]:

    z_t += P_t R_t(present genes)

R_t of the wild type (R0, batch-independent) is computed once per forward; a deletion only
changes R_t for the (term, sample) pairs it touches, so the sparse entries are
P_t (R_t - R0_t) over those pairs' neurons. Each kind gives ``_term_vectors``.

The distinct (term, sample) pairs, their order by term and every size that follows are found
on the host from the batch's host copy of its pairs (``AffectedPairs``) and copied over, so the
device is never waited for. Their number follows the batch, so these kinds' shapes do too: they
are not captured in a CUDA graph, the binary, flattened-embedding and Lua kinds are
(``dcellx.nn.genes.base``). Their scatter-adds are reproducible like every other's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from dcellx.batch import NO_GENE, PerturbationBatch, to_device
from dcellx.nn.genes.base import EmbeddingInput, GeneContribution, expand_csr
from dcellx.nn.layout import ModelLayout
from dcellx.nn.ops import index_add, take


@dataclass
class AffectedPairs:
    """A batch's deleted (sample, incidence) entries (``sample``, ``inc``, ``pair``: the pair of
    each) and the distinct (term, sample) pairs they touch, sorted (``term``: the term's index
    among terms with genes, ``psample``), on the device; ``term_host`` and ``pair_host`` are the
    same on the host, for the sizes and groupings that follow."""

    sample: torch.Tensor
    inc: torch.Tensor
    pair: torch.Tensor
    term: torch.Tensor
    psample: torch.Tensor
    term_host: np.ndarray
    pair_host: np.ndarray


class TermVectorInput(EmbeddingInput):
    """An embedding kind whose gene block is one d-vector per term (``gene_P``: P_t, the rows
    of the neurons of terms with genes)."""

    def __init__(self, layout: ModelLayout) -> None:
        super().__init__(layout)
        self.gene_P = nn.Parameter(torch.zeros(len(self.gneurons), layout.cfg.embedding_dim))
        # host copies for the pairs (_affected_pairs): terms with genes, incidence -> that index
        self.gterm_host = self.gterms.numpy().copy()
        self.inc_tg_host = self.inc_tg.numpy().copy()

    def _term_vectors(self, batch: PerturbationBatch):
        """(R0 [Tg, d], the affected pairs (``AffectedPairs``), R [P, d])."""
        raise NotImplementedError

    def forward(self, batch: PerturbationBatch) -> GeneContribution:
        N = self.num_neurons
        # d-vectors per term with genes: wild type R0 [Tg, d]; for the (term, sample) pairs a
        # deletion touches, R [P, d]. The term's Linear maps them through P_t [w_t, d].
        R0, pairs, R = self._term_vectors(batch)
        pre0 = (R0.index_select(0, self.gneuron_tg) * self.gene_P).sum(1)  # [Ng]
        base = torch.zeros(N, dtype=pre0.dtype, device=pre0.device)
        base = base.index_copy(0, self.gneurons, pre0)
        # expand each affected pair over its term's neurons; sorted by term = by stratum (the
        # order and the sizes from the host)
        L, dev = self.layout, R0.device
        t_host = self.gterm_host[pairs.term_host]
        order_host = np.argsort(t_host, kind="stable")
        t_host = t_host[order_host]
        order, t = to_device(order_host, dev), to_device(t_host, dev)
        pt, pb = pairs.term[order], pairs.psample[order]
        dR = take(R, order) - take(R0, pt)
        widths = L.width[t_host]
        which, neuron = expand_csr(self.neuron_ptr, self.neuron_ids, t, int(widths.sum()))
        value = (take(self.gene_P, self.gneuron_row[neuron]) * take(dR, which)).sum(1)
        S = L.onto.num_strata
        counts = np.bincount(L.onto.strata[t_host], weights=widths, minlength=S)
        ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64).tolist()
        return GeneContribution(base, neuron, pb[which], value, ptr)

    def _affected_pairs(self, batch: PerturbationBatch) -> AffectedPairs:
        """The batch's deleted (sample, incidence) entries and the distinct (term, sample)
        pairs they touch, found on the host from the batch's host copy of its pairs."""
        L = self.layout
        sample, genes = batch.host_samples(), batch.host_genes()
        real = genes != NO_GENE
        sample, genes = sample[real], genes[real]
        lens = self.inc_counts[genes]
        which = np.repeat(np.arange(len(genes)), lens)
        offs = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
        inc = L.gene_incs[L.gene_inc_ptr[genes][which] + offs]
        b = sample[which]
        B = batch.size
        upair, pinv = np.unique(self.inc_tg_host[inc] * B + b, return_inverse=True)
        dev = batch.gene.device
        on = lambda a: to_device(np.asarray(a, np.int64), dev)  # noqa: E731
        return AffectedPairs(on(b), on(inc), on(pinv), on(upair // B), on(upair % B),
                             upair // B, pinv.reshape(-1))  # fmt: skip

    def _pool(self, F: torch.Tensor, batch: PerturbationBatch):
        """Sum over present direct genes of per-gene features F [G, h]: wild type [Tg, h] and
        the affected (term, sample) pairs [P, h]."""
        Tg = len(self.gterms)
        base = torch.zeros(Tg, F.shape[1], dtype=F.dtype, device=F.device)
        base = index_add(base, self.inc_tg, take(F, self.inc_gene))
        pairs = self._affected_pairs(batch)
        delta = torch.zeros(len(pairs.term_host), F.shape[1], dtype=F.dtype, device=F.device)
        delta = index_add(delta, pairs.pair, take(F, self.inc_gene[pairs.inc]))
        return base, pairs, take(base, pairs.term) - delta

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
