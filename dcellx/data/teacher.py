"""A randomly initialised DCell as a planted teacher for ``dcellx data simulate --teacher dcell``.

The teacher is the paper's model on a chosen ontology, seeded, evaluated in eval mode (at
initialisation BatchNorm's running statistics are the identity), so its phenotypes are a
hierarchical nonlinear function of exactly the genes that ontology sees.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from dcellx.batch import PerturbationBatch
from dcellx.nn.config import make_config
from dcellx.nn.dcell import DCell
from dcellx.nn.init import init_term_state
from dcellx.nn.layout import ModelLayout
from dcellx.ontology.build import load_ontology


def dcell_teacher(
    go: str = "2017", seed: int = 0, preset: str = "paper", chunk: int = 4096
) -> Callable[[list[tuple[str, ...]]], np.ndarray]:
    """A function genotypes -> phenotypes (root output, standardised to mean 0, sd 1)."""
    onto = load_ontology(go)
    cfg = make_config(preset)
    layout = ModelLayout(onto, cfg)
    model = DCell(onto, cfg, layout)
    model.load_term_state_dict(init_term_state(layout, seed))
    model.eval()
    index = onto.gene_index

    def teach(genotypes: list[tuple[str, ...]]) -> np.ndarray:
        out = []
        for lo in range(0, len(genotypes), chunk):
            part = genotypes[lo : lo + chunk]
            sample, gene = [], []
            for i, gs in enumerate(part):
                for g in gs:
                    if g in index:
                        sample.append(i)
                        gene.append(index[g])
            b = PerturbationBatch(
                len(part),
                torch.tensor(sample, dtype=torch.long),
                torch.tensor(gene, dtype=torch.long),
                torch.zeros(len(part), 1),
                torch.arange(len(part)),
                0,
            )
            with torch.no_grad():
                out.append(model(b)[0].double().numpy())
        y = np.concatenate(out) if out else np.zeros(0)
        sd = y.std()
        return (y - y.mean()) / (sd if sd > 0 else 1.0)

    return teach
