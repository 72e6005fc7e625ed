"""The flattened embedding model converts exactly to a binary model; pooled columns are tied."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dcellx.batch import encode_genotypes, make_batch
from dcellx.data.datasets import load_dataset
from dcellx.diagnose.equivalence import equivalence_gap, pooled_column_ranks
from dcellx.nn.config import make_config
from dcellx.nn.dcell import DCell
from dcellx.nn.init import init_term_state
from dcellx.nn.layout import ModelLayout
from dcellx.nn.loss import dcell_loss


def trained_state(onto, cfg, batch, steps: int = 20):
    model = DCell(onto, cfg)
    model.load_term_state_dict(init_term_state(ModelLayout(onto, cfg), 0))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        root, aux = model(batch)
        loss = dcell_loss(root, aux, batch.y[:, 0], cfg).total
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.term_state_dict()


@pytest.mark.parametrize(
    "preset,rule",
    [("paper", "exact"), ("dcell-new", "exact"), ("dcell-new", "torchcell-index-guard")],
)
def test_embedding_equals_its_binary_conversion(onto_dna, preset: str, rule: str) -> None:
    """Also with dcell-new's root constant input and 1 = present bits, and under the guard."""
    ds = load_dataset("dcell-dna-repair")["train"]
    batch = make_batch(encode_genotypes(ds, onto_dna), np.arange(32))
    cfg = make_config(preset, variant="embedding", deletion_rule=rule)
    gap = equivalence_gap(trained_state(onto_dna, cfg, batch), onto_dna, cfg, batch)
    assert gap["max_abs_diff_root"] < 1e-4 * max(1.0, gap["root_scale"])
    assert gap["max_abs_diff_aux"] < 1e-4


def test_pooled_columns_have_rank_at_most_d(onto_dna) -> None:
    ds = load_dataset("dcell-dna-repair")["train"]
    batch = make_batch(encode_genotypes(ds, onto_dna), np.arange(32))
    cfg = make_config("paper", variant="embedding-pooled", embedding_dim=4)
    r = pooled_column_ranks(trained_state(onto_dna, cfg, batch, 5), onto_dna, cfg)
    assert r["max_rank"] <= 4
    assert r["terms_rank_deficient"] > 0
