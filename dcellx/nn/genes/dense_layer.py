"""``dense-layer`` (``--preset lua-released``, the saved Lua model): the gene layer of every term
with direct genes reads every gene of the ontology, unmasked. With G [N_extra, G] stacking every
G_t:

* disrupted-one:  extra = c + sum_{g disrupted} G[:, g]
* present-one:    extra = (c + sum_g G[:, g]) - sum_{g disrupted} G[:, g]
"""

from __future__ import annotations

import torch
from torch import nn

from dcellx.batch import NO_GENE, PerturbationBatch
from dcellx.nn.genes.base import GeneInput
from dcellx.nn.layout import ModelLayout
from dcellx.nn.linear_init import linear_init
from dcellx.nn.ops import index_add, take


class DenseLayerGenes(GeneInput):
    kind = "dense-layer"

    def __init__(self, layout: ModelLayout) -> None:
        super().__init__(layout)
        # rows: the extra rows of every term with direct genes (extra_offset order)
        self.gene_dense = nn.Parameter(torch.zeros(layout.num_extra, layout.onto.num_genes))
        self.gene_b = nn.Parameter(torch.zeros(layout.num_extra))

    def forward(self, batch: PerturbationBatch) -> torch.Tensor:
        """The gene layers' output [N_extra, B]."""
        B = batch.size
        # G[:, g] per pair, as rows [K, N_extra]; a padding pair's (NO_GENE) row is zeroed
        pad = batch.gene == NO_GENE
        rows = take(self.gene_dense.t(), torch.where(pad, 0, batch.gene))
        rows = torch.where(pad.unsqueeze(1), 0, rows)
        out = torch.zeros(B, self.layout.num_extra, dtype=rows.dtype, device=rows.device)
        out = index_add(out, batch.sample, rows).t()
        if self.cfg.gene_state == "present-one":
            return (self.gene_b + self.gene_dense.sum(1)).unsqueeze(1) - out
        return out + self.gene_b.unsqueeze(1)

    def l2_parameters(self) -> list[torch.Tensor]:
        return [self.gene_dense]

    def term_layer_state(self, t: int, tid: str) -> dict[str, torch.Tensor]:
        x0, w = int(self.layout.extra_offset[t]), int(self.layout.width[t])
        return {
            f"genes.{tid}.weight": self.gene_dense[x0 : x0 + w].clone(),
            f"genes.{tid}.bias": self.gene_b[x0 : x0 + w].clone(),
        }

    def load_term_layer_state(self, t: int, tid: str, state: dict[str, torch.Tensor]) -> None:
        x0, w = int(self.layout.extra_offset[t]), int(self.layout.width[t])
        self.gene_dense[x0 : x0 + w] = state[f"genes.{tid}.weight"]  # [w, G]
        self.gene_b[x0 : x0 + w] = state[f"genes.{tid}.bias"]

    @classmethod
    def initial_layer_state(
        cls, layout: ModelLayout, t: int, tid: str, gen: torch.Generator, dtype: torch.dtype
    ) -> dict[str, torch.Tensor]:
        """Linear(every gene -> w_t), initialised like the term Linears."""
        w, b = linear_init(gen, int(layout.width[t]), layout.onto.num_genes, layout.cfg, dtype)
        return {f"genes.{tid}.weight": w, f"genes.{tid}.bias": b}
