"""``embedding-deepset``: R_t = rho(sum_{g in direct(t), present} phi(e_g)), phi and rho two-layer
MLPs (d -> h -> h, h -> h -> d; h = ``deepset_hidden``), shared by every term."""

from __future__ import annotations

import torch

from dcellx.batch import PerturbationBatch
from dcellx.nn.genes.term_vectors import TermVectorInput
from dcellx.nn.layout import ModelLayout
from dcellx.nn.linear_init import mlp_init
from dcellx.nn.reference import mlp


class DeepSetGenes(TermVectorInput):
    kind = "embedding-deepset"
    set_modules = ("phi", "rho")

    def __init__(self, layout: ModelLayout) -> None:
        super().__init__(layout)
        d, h = layout.cfg.embedding_dim, layout.cfg.deepset_hidden
        self.phi = mlp([d, h, h])
        self.rho = mlp([h, h, d])

    @classmethod
    def initial_shared_state(
        cls, layout: ModelLayout, gen: torch.Generator, dtype: torch.dtype
    ) -> dict[str, torch.Tensor]:
        state = super().initial_shared_state(layout, gen, dtype)
        cfg = layout.cfg
        d, h = cfg.embedding_dim, cfg.deepset_hidden
        state.update(mlp_init(gen, "phi", [d, h, h], cfg, dtype))
        state.update(mlp_init(gen, "rho", [h, h, d], cfg, dtype))
        return state

    def _term_vectors(self, batch: PerturbationBatch):
        base, pairs, pooled = self._pool(self.phi(self.embedding), batch)
        return self.rho(base), pairs, self.rho(pooled)
