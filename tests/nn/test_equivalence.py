"""The fast engine computes exactly what the per-term reference loop computes.

Same term-named state in both, float64, two training steps: outputs, auxiliary outputs, losses,
gradients and the updated state agree to ||d||/||ref|| <= 1e-5 per tensor, for every preset and
variant, on real ontologies (DNA repair, the full 2017 GO) and on random synthetic ones, and for
both deletion rules.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dcellx.batch import PerturbationBatch, encode_genotypes, make_batch
from dcellx.data.datasets import load_dataset
from dcellx.errors import ConfigError
from dcellx.nn.config import VARIANTS as MODEL_VARIANTS
from dcellx.nn.config import make_config
from tests.nn.equivalence import compare_engines, deletion_visibility, fast_outputs
from tests.ontology.synthetic import random_ontology

TOL = 1e-5
PRESETS = ["paper", "lua", "lua-released", "torchcell", "dcell-new"]
GUARD = "torchcell-index-guard"
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
    {"root_extra_input": "constant-one", "gene_state": "present-one"},
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


# Under the index guard most terms never see a deletion (13 of 21 on DNA repair), so their input is
# constant across every batch; training-mode BatchNorm of a constant feature divides rounding noise
# by sqrt(eps) once per stratum, and gradients that are zero in exact arithmetic come out as noise
# amplified by up to 316^depth. The guard's logic does not depend on eps: BatchNorm is checked with
# eps = 0.1 (amplification <= 3.2 per stratum), LayerNorm and no norm at the preset's own values.
GUARD_NORMS = [{"norm": "batch", "bn_eps": 0.1}, {"norm": "layer"}, {"norm": "none"}]


def _norm_id(d: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in d.items())


@pytest.mark.parametrize("norm", GUARD_NORMS, ids=_norm_id)
@pytest.mark.parametrize("variant", VARIANTS)
def test_dna_repair_dcell_new_index_guard(onto_dna, variant: str, norm: dict) -> None:
    cfg = make_config("dcell-new", variant=variant, attention_heads=2, deletion_rule=GUARD, **norm)
    batch = real_batch(onto_dna)
    visible, hidden = deletion_visibility(onto_dna, GUARD, batch)
    assert visible > 0 and hidden > 0, (visible, hidden)
    assert_equal_engines(compare_engines(onto_dna, cfg, batch))
    exact = fast_outputs(onto_dna, cfg.model_copy(update={"deletion_rule": "exact"}), batch)
    guard = fast_outputs(onto_dna, cfg, batch)
    assert (exact[0] - guard[0]).abs().max() > 1e-6  # the rule changes what the model sees


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("variant", VARIANTS)
def test_synthetic_dcell_new_index_guard(seed: int, variant: str) -> None:
    onto = random_ontology(n_terms=25, n_genes=50, seed=seed)
    cfg = make_config("dcell-new", variant=variant, depth=1 + seed, deletion_rule=GUARD, bn_eps=0.1)
    batch = random_batch(onto, B=6, k=8, seed=seed)
    visible, hidden = deletion_visibility(onto, GUARD, batch)
    assert visible > 0 and hidden > 0, (visible, hidden)
    assert_equal_engines(compare_engines(onto, cfg, batch))
    exact = fast_outputs(onto, cfg.model_copy(update={"deletion_rule": "exact"}), batch)
    guard = fast_outputs(onto, cfg, batch)
    assert (exact[0] - guard[0]).abs().max() > 1e-6
    assert (exact[1] - guard[1]).abs().max() > 1e-6


@pytest.mark.parametrize("gene_state", ["disrupted-one", "present-one"])
@pytest.mark.parametrize("preset", ["paper", "lua", "torchcell"])
def test_index_guard_and_gene_state_with_other_presets(
    onto_dna, preset: str, gene_state: str
) -> None:
    """The guard and the bit encoding are levers of every preset (Lua: its masked gene layer)."""
    cfg = make_config(preset, deletion_rule=GUARD, bn_eps=0.1, gene_state=gene_state)
    assert_equal_engines(compare_engines(onto_dna, cfg, real_batch(onto_dna)))
    exact = cfg.model_copy(update={"deletion_rule": "exact", "bn_eps": 1e-5})
    assert_equal_engines(compare_engines(onto_dna, exact, real_batch(onto_dna)))


@pytest.mark.parametrize("gene_state", ["disrupted-one", "present-one"])
@pytest.mark.parametrize("lever", [{}, {"norm": "layer"}, {"depth": 2}], ids=_norm_id)
def test_lua_released_dense_gene_layer(onto_dna, gene_state: str, lever: dict) -> None:
    """The saved Lua model's dense gene layers (every gene into every term's gene layer)."""
    cfg = make_config("lua-released", gene_state=gene_state, **lever)
    assert cfg.gene_layer == "dense-layer" and cfg.block == "linear-norm-tanh"
    assert_equal_engines(compare_engines(onto_dna, cfg, real_batch(onto_dna)))


def test_lua_released_refuses_the_index_guard() -> None:
    with pytest.raises(ConfigError, match="dense gene layer"):
        make_config("lua-released", deletion_rule=GUARD)


@pytest.mark.slow
@pytest.mark.parametrize(
    "preset,variant",
    [("paper", v) for v in VARIANTS]
    + [("lua", "binary"), ("torchcell", "binary"), ("dcell-new", "binary")],
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
