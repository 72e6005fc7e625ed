"""The model a run trains: a DCell variant, a DCell on a control, the dense-MLP control, or a
baseline (``additive``, ``pairwise``; see ``dcellx.train.baselines``).

Every model answers the same small interface the loop needs: ``forward(batch) -> (root [B],
aux [B, T-1])``, ``l2_parameters()``, ``num_parameters()``, ``term_state_dict()`` and
``load_term_state_dict()``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from dcellx.batch import PerturbationBatch
from dcellx.nn.buckets import PLANS
from dcellx.nn.config import ModelConfig
from dcellx.nn.dcell import DCell
from dcellx.nn.layout import ModelLayout
from dcellx.ontology.compiled import CompiledOntology
from dcellx.train.baselines import BASELINES, build_baseline
from dcellx.train.controls import shuffle_ontology
from dcellx.train.plain import PlainStateMixin


class DenseMLP(PlainStateMixin):
    """Control: no ontology at all. A dense net over the binary gene vector (1 = disrupted),
    Linear -> Tanh -> Norm twice, then Linear -> 1, as wide as gives DCell's parameter count.

    ``batch-frozen`` is treated as ``batch`` (the control has no freezing schedule).
    """

    def __init__(self, num_genes: int, hidden: int, cfg: ModelConfig) -> None:
        super().__init__()
        self.num_genes = num_genes

        def norm() -> nn.Module:
            if cfg.norm == "none":
                return nn.Identity()
            if cfg.norm == "layer":
                return nn.LayerNorm(hidden, eps=cfg.bn_eps)
            return nn.BatchNorm1d(hidden, eps=cfg.bn_eps, momentum=cfg.bn_momentum)

        self.net = nn.Sequential(
            nn.Linear(num_genes, hidden),
            nn.Tanh(),
            norm(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            norm(),
            nn.Linear(hidden, 1),
        )
        self.register_buffer("norm_steps", torch.zeros((), dtype=torch.long))

    @staticmethod
    def width_for(num_genes: int, params: int, norm: str) -> int:
        """Hidden width h with h^2 + (G + 3 + 4 [norm]) h + 1 closest to ``params``."""
        b = num_genes + 3 + (4 if norm != "none" else 0)
        return max(1, round((-b + math.sqrt(b * b + 4 * max(params - 1, 0))) / 2))

    def forward(self, batch: PerturbationBatch) -> tuple[torch.Tensor, torch.Tensor]:
        x = batch.dense(self.num_genes, dtype=self.net[0].weight.dtype)
        if self.training:
            self.norm_steps += 1
        root = self.net(x).squeeze(1)
        return root, root.new_zeros(batch.size, 0)  # no subsystems, no auxiliary heads

    def l2_parameters(self) -> list[torch.Tensor]:
        return [m.weight for m in self.net if isinstance(m, nn.Linear)]


def run_ontology(onto: CompiledOntology, variant: str, seed: int) -> CompiledOntology:
    """The ontology the model is built on: the control's shuffled copy, or ``onto`` itself."""
    return shuffle_ontology(onto, seed) if variant == "shuffled-ontology" else onto


def build_model(
    onto: CompiledOntology,
    cfg: ModelConfig,
    variant: str,
    seed: int,
    pairs: np.ndarray | None = None,
    engine: str = "fused",
    buckets: str = "cost-v1",
) -> nn.Module:
    """A freshly initialised model; the seed fixes the initial function exactly. ``pairs``: the
    pair keys seen in training (``RunData.train_pairs()``), used by the ``pairwise`` baseline only
    (without them it starts with no pair terms and adopts a checkpoint's on loading). ``engine``,
    ``buckets``: the DCell's engine and bucket plan (``RunConfig.engine``, ``.buckets``)."""
    if variant in BASELINES:
        return build_baseline(variant, onto.num_genes, pairs)
    layout = ModelLayout(onto, cfg, PLANS[buckets])
    if variant != "mlp":
        return DCell(onto, cfg, layout, engine, seed)
    # as many parameters as the DCell would have, counted without building it
    hidden = DenseMLP.width_for(onto.num_genes, layout.num_parameters(), cfg.norm)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return DenseMLP(onto.num_genes, hidden, cfg)
