"""Synthetic screens: seeded, distinct genotypes, planted effects recoverable, file round trip."""

from __future__ import annotations

import numpy as np
import pytest

from dcellx.data.datasets import load_genotypes
from dcellx.data.simulate import simulate_genotypes
from dcellx.errors import ConfigError

GENES = [f"G{i:03d}" for i in range(40)]


def test_seeded_and_distinct() -> None:
    a, b, c = (simulate_genotypes(GENES, 2, 300, noise=0.1, seed=s) for s in (5, 5, 6))
    assert a.dataset.genes == b.dataset.genes and np.array_equal(a.dataset.values, b.dataset.values)
    assert a.gene_effects == b.gene_effects and a.pair_effects == b.pair_effects
    assert a.dataset.genes != c.dataset.genes
    sets = {frozenset(g) for g in a.dataset.genes}
    assert len(sets) == 300 and all(len(s) == 2 for s in sets)
    # Changing only the noise keeps genotypes and planted effects.
    d = simulate_genotypes(GENES, 2, 300, noise=0.0, seed=5)
    assert d.dataset.genes == a.dataset.genes and d.pair_effects == a.pair_effects


# 600 of 780 pairs: drawn from the enumerated sets; 3,000 of 1.3 M triples: by rejection.
@pytest.mark.parametrize(
    ("genes", "order", "n"), [(GENES, 2, 600), ([f"H{i}" for i in range(200)], 3, 3000)]
)
def test_noise_free_values_are_the_planted_sum(genes: list[str], order: int, n: int) -> None:
    s = simulate_genotypes(genes, order, n, noise=0.0, seed=2)
    assert len({frozenset(g) for g in s.dataset.genes}) == n
    assert all(len(set(g)) == order for g in s.dataset.genes)
    assert len(s.pair_effects) == round(0.01 * len({p for g in s.dataset.genes for p in pairs(g)}))
    for gs, y in zip(s.dataset.genes, s.dataset.values[:, 0], strict=True):
        want = sum(s.gene_effects[g] for g in gs)
        want += sum(s.pair_effects.get(p, 0.0) for p in pairs(gs))
        assert y == pytest.approx(want)


def pairs(gs: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(gs[i], gs[j]) for i in range(len(gs)) for j in range(i + 1, len(gs))]


def test_additive_effects_recoverable_by_least_squares() -> None:
    s = simulate_genotypes(GENES, 2, 600, noise=0.05, seed=11)
    col = {g: i for i, g in enumerate(GENES)}
    x = np.zeros((len(s.dataset), len(GENES)))
    for r, gs in enumerate(s.dataset.genes):
        x[r, [col[g] for g in gs]] = 1
    y = s.dataset.values[:, 0]
    a_hat = np.linalg.lstsq(x, y, rcond=None)[0]
    a = np.array([s.gene_effects[g] for g in GENES])
    assert np.corrcoef(a, a_hat)[0, 1] > 0.95
    # With the planted pair indicators as extra columns, pair effects are recovered too.
    planted = list(s.pair_effects)
    assert planted
    xp = np.array([[p in pairs(gs) for p in planted] for gs in s.dataset.genes], float)
    fit = np.linalg.lstsq(np.hstack([x, xp]), y, rcond=None)[0]
    assert np.allclose(fit[len(GENES) :], [s.pair_effects[p] for p in planted], atol=0.2)


def test_written_file_is_marked_synthetic_and_reads_back(tmp_path) -> None:
    s = simulate_genotypes(GENES, 3, 500, noise=0.2, seed=4)
    path = tmp_path / "sim.txt"
    s.write(path)
    text = path.read_text()
    assert text.startswith("# SYNTHETIC")
    assert "teacher=additive order=3 n=500 noise=0.2 seed=4" in text
    back = load_genotypes(path)
    assert back.genes == s.dataset.genes
    assert np.array_equal(back.values, s.dataset.values)


def test_teacher_hook_and_errors() -> None:
    with pytest.raises(ConfigError, match="teacher_fn"):
        simulate_genotypes(GENES, 2, 10, teacher="dcell")
    s = simulate_genotypes(
        GENES, 2, 10, teacher="dcell", noise=0.0, seed=1, teacher_fn=lambda g: np.arange(len(g))
    )
    assert s.dataset.values[:, 0].tolist() == list(range(10)) and not s.gene_effects
    with pytest.raises(ConfigError, match="only 780 exist"):
        simulate_genotypes(GENES, 2, 781)
    with pytest.raises(ConfigError, match="teacher must be"):
        simulate_genotypes(GENES, 2, 10, teacher="linear")
    with pytest.raises(ConfigError, match="order"):
        simulate_genotypes(GENES, 4, 10)


def test_default_gene_list() -> None:
    """(Its speed, target <= 5 s, is ``simulate_100k_s`` in benchmarks/bench_ontology.py.)"""
    s = simulate_genotypes(order=3, n=100_000, seed=0)
    assert len(s.gene_effects) == 4111 and len(s.dataset) == 100_000
    assert len({frozenset(g) for g in s.dataset.genes}) == 100_000
