"""``embedding`` (flattened): term t's gene block is [s_g e_g for g in direct(t)], n_t d columns,
one weight vector A_{t,g} [d] per (term, direct gene, neuron) element:

    z_t += sum_g s_g A_{t,g} e_g = sum_g A_{t,g} e_g - sum_{deleted} A_{t,g} e_g
"""

from __future__ import annotations

import torch
from torch import nn

from dcellx.batch import PerturbationBatch
from dcellx.nn.genes.base import EmbeddingInput, GeneContribution
from dcellx.nn.layout import ModelLayout
from dcellx.nn.ops import index_add, take


class FlatEmbeddingGenes(EmbeddingInput):
    kind = "embedding"

    def __init__(self, layout: ModelLayout) -> None:
        super().__init__(layout)
        self.gene_A = nn.Parameter(torch.zeros(layout.num_elements, layout.cfg.embedding_dim))

    def forward(self, batch: PerturbationBatch) -> GeneContribution:
        # C_e = A_e . e_g(e): the binary-equivalent column entry of element e
        C = (self.gene_A * take(self.embedding, self.elem_gene)).sum(1)
        base = torch.zeros(self.num_neurons, dtype=C.dtype, device=C.device)
        base = index_add(base, self.elem_neuron, C)
        en = self._perturbed_elements(batch)
        return GeneContribution(base, en.neuron, en.sample, -en.masked(take(C, en.elem)), en.ptr)

    def l2_parameters(self) -> list[torch.Tensor]:
        return [self.gene_A, *super().l2_parameters()]

    def term_gene_columns(self, t: int) -> torch.Tensor:
        return self._element_block(self.gene_A, t)

    def load_term_gene_columns(self, t: int, block: torch.Tensor) -> None:
        self._load_element_block(self.gene_A, t, block)
