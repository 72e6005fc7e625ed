"""``binary``: the paper's gene bits x_g, one weight per (term, direct gene, neuron) element.

* disrupted-one:  z_t += sum_{g in direct(t), disrupted} W_t[:, g]
* present-one:    z_t += sum_{g in direct(t)} W_t[:, g] - sum_{disrupted} W_t[:, g]
"""

from __future__ import annotations

import torch
from torch import nn

from dcellx.batch import PerturbationBatch
from dcellx.nn.genes.base import GeneContribution, GeneInput
from dcellx.nn.layout import ModelLayout
from dcellx.nn.ops import index_add, take


class BinaryGenes(GeneInput):
    kind = "binary"

    def __init__(self, layout: ModelLayout) -> None:
        super().__init__(layout)
        self.gene_w = nn.Parameter(torch.zeros(layout.num_elements))

    def forward(self, batch: PerturbationBatch) -> GeneContribution:
        en = self._perturbed_elements(batch)
        w = en.masked(take(self.gene_w, en.elem))
        if self.cfg.gene_state != "present-one":
            return GeneContribution(None, en.neuron, en.sample, w, en.ptr)
        base = torch.zeros(self.num_neurons, dtype=self.gene_w.dtype, device=self.gene_w.device)
        base = index_add(base, self.elem_neuron, self.gene_w)
        return GeneContribution(base, en.neuron, en.sample, -w, en.ptr)

    def l2_parameters(self) -> list[torch.Tensor]:
        return [self.gene_w]

    def term_gene_columns(self, t: int) -> torch.Tensor:
        return self._element_block(self.gene_w, t)

    def load_term_gene_columns(self, t: int, block: torch.Tensor) -> None:
        self._load_element_block(self.gene_w, t, block)
