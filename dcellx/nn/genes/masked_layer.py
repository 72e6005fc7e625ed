"""``masked-layer`` (``--preset lua``): the Lua code's per-term gene layer G_t x + c_t, G_t a
Linear(direct(t) -> w_t), whose w_t outputs (``extra`` rows) join the children's states.

* disrupted-one:  extra_t = c_t + sum_{g disrupted} G_t[:, g]
* present-one:    extra_t = (c_t + G_t 1) - sum_{g disrupted} G_t[:, g]

G_t is stored per element like ``binary``'s weights (``gene_w``), c_t in ``gene_b``.
"""

from __future__ import annotations

import torch
from torch import nn

from dcellx.batch import PerturbationBatch
from dcellx.nn.genes.base import GeneInput
from dcellx.nn.layout import ModelLayout
from dcellx.nn.linear_init import linear_init
from dcellx.nn.ops import index_add, take


class MaskedLayerGenes(GeneInput):
    kind = "masked-layer"

    def __init__(self, layout: ModelLayout) -> None:
        super().__init__(layout)
        L = layout
        self.gene_w = nn.Parameter(torch.zeros(L.num_elements))
        # element e writes into the extra row of its term: extra_offset[t] + unit
        inc_t = L.inc_term[L.elem_inc]
        self._buffer("elem_extra", L.extra_offset[inc_t] + L.elem_unit)
        self.gene_b = nn.Parameter(torch.zeros(L.num_extra))

    def forward(self, batch: PerturbationBatch) -> torch.Tensor:
        """The gene layers' output [N_extra, B]."""
        present = self.cfg.gene_state == "present-one"  # bits s_g = 1 - x_g
        B = batch.size
        en = self._perturbed_elements(batch)
        n_x = self.layout.num_extra
        w = en.masked(take(self.gene_w, en.elem))
        w = -w if present else w
        out = torch.zeros(n_x * B, dtype=w.dtype, device=w.device)
        out = index_add(out, self.elem_extra[en.elem] * B + en.sample, w).view(n_x, B)
        c = self.gene_b
        if present:  # G_t 1 + c_t: every gene's column, batch-independent
            c = index_add(c, self.elem_extra, self.gene_w)
        return out + c.unsqueeze(1)

    def l2_parameters(self) -> list[torch.Tensor]:
        return [self.gene_w]

    def term_layer_state(self, t: int, tid: str) -> dict[str, torch.Tensor]:
        x0, w = int(self.layout.extra_offset[t]), int(self.layout.width[t])
        return {
            f"genes.{tid}.weight": self._element_block(self.gene_w, t).clone(),
            f"genes.{tid}.bias": self.gene_b[x0 : x0 + w].clone(),
        }

    def load_term_layer_state(self, t: int, tid: str, state: dict[str, torch.Tensor]) -> None:
        self._load_element_block(self.gene_w, t, state[f"genes.{tid}.weight"])
        x0, w = int(self.layout.extra_offset[t]), int(self.layout.width[t])
        self.gene_b[x0 : x0 + w] = state[f"genes.{tid}.bias"]

    @classmethod
    def initial_layer_state(
        cls, layout: ModelLayout, t: int, tid: str, gen: torch.Generator, dtype: torch.dtype
    ) -> dict[str, torch.Tensor]:
        """Linear(direct(t) -> w_t), initialised like the term Linears."""
        w, b = linear_init(gen, int(layout.width[t]), int(layout.direct[t]), layout.cfg, dtype)
        return {f"genes.{tid}.weight": w, f"genes.{tid}.bias": b}
