"""A randomly initialised DCell as a planted teacher for ``dcellx data simulate --teacher dcell``.

The teacher is the paper's model on a chosen ontology, seeded, evaluated in eval mode (at
initialisation BatchNorm's running statistics are the identity), so its phenotypes are a
hierarchical nonlinear function of exactly the genes that ontology sees.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from dcellx.batch import encode_genotypes, make_batch
from dcellx.data.genotypes import GenotypeDataset
from dcellx.data.universe import load_ontology_with_datasets
from dcellx.nn.config import make_config
from dcellx.nn.dcell import DCell
from dcellx.nn.layout import ModelLayout
from dcellx.train.config import DEFAULT_GO, DEFAULT_PRESET


def dcell_teacher(
    go: str = DEFAULT_GO, seed: int = 0, preset: str = DEFAULT_PRESET, chunk: int = 4096
) -> Callable[[list[tuple[str, ...]]], np.ndarray]:
    """A function genotypes -> phenotypes (root output, standardised to mean 0, sd 1)."""
    onto = load_ontology_with_datasets(go)
    cfg = make_config(preset)
    layout = ModelLayout(onto, cfg)
    model = DCell(onto, cfg, layout, seed=seed)
    model.eval()

    def teach(genotypes: list[tuple[str, ...]]) -> np.ndarray:
        # genes the ontology lacks are invisible to the teacher, as to any model on it
        ds = GenotypeDataset(list(genotypes), np.zeros((len(genotypes), 1)), ["y"], "teacher")
        enc = encode_genotypes(ds, onto, unknown="ignore")
        out = []
        for lo in range(0, len(genotypes), chunk):
            rows = np.arange(lo, min(lo + chunk, len(genotypes)))
            with torch.no_grad():
                out.append(model(make_batch(enc, rows))[0].double().numpy())
        y = np.concatenate(out) if out else np.zeros(0)
        sd = y.std()
        return (y - y.mean()) / (sd if sd > 0 else 1.0)

    return teach
