"""The fast engine computes exactly what the per-term reference loop computes.

Same term-named state in both, float64, two training steps: outputs, auxiliary outputs, losses,
gradients and the updated state agree to ||d||/||ref|| <= 1e-5 per tensor, for every preset and
variant, on real ontologies (DNA repair, the full 2017 GO) and on random synthetic ones.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dcellx.batch import PerturbationBatch, encode_genotypes, make_batch
from dcellx.data.genotypes import load_dataset
from dcellx.nn.config import VARIANTS as MODEL_VARIANTS
from dcellx.nn.config import make_config
from dcellx.ontology.synthetic import random_ontology
from tests.nn.equivalence import compare_engines

TOL = 1e-5
PRESETS = ["paper", "lua", "torchcell"]
VARIANTS = list(MODEL_VARIANTS)
LEVERS = [
    {"norm": "layer"},
    {"norm": "none"},
    {"norm": "batch-frozen", "bn_freeze_after": 1},
    {"depth": 2},
    {"width_floor": 40, "width_multiplier": 0.6},
    {"alpha": 0.0},
    {"l2": 1e-3},
    {"aux_reduce": "mean"},
]


def assert_equal_engines(worst: dict[str, float]) -> None:
    assert all(v <= TOL for v in worst.values()), worst


def real_batch(onto, n: int = 16) -> PerturbationBatch:
    ds = load_dataset("dcell-dna-repair")["train"]
    return make_batch(encode_genotypes(ds, onto), np.arange(n))


def random_batch(onto, B: int, k: int, seed: int = 0) -> PerturbationBatch:
    """B genotypes disrupting k random genes each: with k large every term sees variation across
    the batch (a term whose input is constant across the batch is ill-conditioned under
    BatchNorm, where both engines only agree up to amplified rounding noise)."""
    rng = np.random.default_rng(seed)
    genes = np.concatenate([rng.choice(onto.num_genes, k, replace=False) for _ in range(B)])
    return PerturbationBatch(
        B,
        torch.from_numpy(np.repeat(np.arange(B), k)),
        torch.from_numpy(genes),
        torch.from_numpy(rng.normal(size=(B, 1))),
        torch.arange(B),
        0,
    )


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_dna_repair_every_preset_and_variant(onto_dna, preset: str, variant: str) -> None:
    cfg = make_config(preset, variant=variant, attention_heads=2)
    assert_equal_engines(compare_engines(onto_dna, cfg, real_batch(onto_dna)))


@pytest.mark.parametrize("lever", LEVERS, ids=lambda d: ",".join(f"{k}={v}" for k, v in d.items()))
def test_dna_repair_levers(onto_dna, lever: dict) -> None:
    cfg = make_config("paper", **lever)
    assert_equal_engines(compare_engines(onto_dna, cfg, real_batch(onto_dna)))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_synthetic_ontologies(seed: int, preset: str, variant: str) -> None:
    onto = random_ontology(n_terms=25, n_genes=50, seed=seed)
    cfg = make_config(preset, variant=variant, depth=1 + seed)
    batch = random_batch(onto, B=6, k=8, seed=seed)
    assert_equal_engines(compare_engines(onto, cfg, batch))


@pytest.mark.slow
@pytest.mark.parametrize(
    "preset,variant",
    [("paper", v) for v in VARIANTS] + [("lua", "binary"), ("torchcell", "binary")],
)
def test_full_2017_go(onto_2017, preset: str, variant: str) -> None:
    cfg = make_config(preset, variant=variant)
    # attention's correction costs (deleted genes) x (their terms' sizes): fewer deletions
    batch = random_batch(onto_2017, B=6, k=300 if variant == "embedding-attention" else 1200)
    assert_equal_engines(compare_engines(onto_2017, cfg, batch, steps=1))


def test_parameters_named_by_go_term(onto_dna) -> None:
    from dcellx.nn.dcell import DCell

    model = DCell(onto_dna, make_config("paper"))
    state = model.term_state_dict()
    w = state["terms.GO:0006281.weight"]
    assert w.shape[0] == max(20, int(np.ceil(0.3 * 162)))
    assert "aux.GO:0006281.weight" not in state  # the root has the main head
    assert "aux.GO:0006303.weight" in state
