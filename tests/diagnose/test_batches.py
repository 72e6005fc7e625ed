"""Ceilings over many batches: the vectorised statistics against a brute-force count, batch by
batch, on a constructed screen; the designs; and agreement with the one-batch ceiling on the real
torchcell-2017 build."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from dcellx.data.genotypes import GenotypeDataset
from dcellx.data.trigenic import simulate_trigenic
from dcellx.diagnose.batches import (
    ceiling_distribution,
    draw_batches,
    query_groups,
    rule_values,
    summarise,
)
from dcellx.diagnose.ceiling import identifiability_ceiling
from dcellx.errors import ConfigError
from dcellx.ontology.vocabulary import with_vocabulary
from dcellx.train.data import overfit_rows
from tests.conftest import compiled

GUARD = "torchcell-index-guard"
QUERIES = [("A", "X"), ("B", "Y"), ("C", "Z"), ("D", "X")]
POOL = ["A", "B", "C", "D", "X", "Y", "Z"]


@pytest.fixture
def screen() -> GenotypeDataset:
    """Four queries x every other gene of the pool (5 records each, written query first); X, Y,
    Z are not in the ontology. Labels drawn with ties, so groups and ceilings vary by batch."""
    rows = [(*q, a) for q in QUERIES for a in POOL if a not in q]
    y = np.random.default_rng(7).integers(0, 4, size=len(rows)).astype(float)
    return GenotypeDataset(rows, y[:, None], ["v"], "constructed")


def brute_force(batch: list[tuple[str, ...]], y: list[float], seen: set[str]) -> tuple:
    """(distinct inputs, genotypes seen as wild type, ceiling or None) by plain Python."""
    keys = [frozenset(g for g in genes if g in seen) for genes in batch]
    groups: dict[frozenset, list[float]] = {}
    for k, v in zip(keys, y, strict=True):
        groups.setdefault(k, []).append(v)
    fitted = [np.mean(groups[k]) for k in keys]
    if len(set(y)) == 1 or len(groups) == 1 or np.ptp(fitted) == 0:
        ceiling = None  # one prediction for every record: Pearson undefined
    elif len(groups) == len(batch):
        ceiling = 1.0
    else:
        ceiling = float(np.corrcoef(y, fitted)[0, 1])
    return len(groups), sum(not k for k in keys), ceiling


def seen_genes(onto, rule: str) -> set[str]:
    """The genes whose deletion some term sees, from positions and direct counts by hand."""
    pos = dict(zip(onto.gene_ids, onto.vocabulary_positions().tolist(), strict=True))
    n_t = np.bincount(onto.gene_term[1], minlength=onto.num_terms)
    names = [onto.gene_ids[g] for g in onto.gene_term[0].tolist()]
    terms = onto.gene_term[1].tolist()
    if rule == "exact":
        return set(names)
    return {g for g, t in zip(names, terms, strict=True) if pos[g] < n_t[t]}


@pytest.mark.parametrize("design", ["first", "random", "query-pair"])
def test_statistics_equal_a_brute_force_count(tiny_onto, screen, design) -> None:
    rows = draw_batches(screen, 4, 300, design, seed=3)
    y = screen.values[:, 0]
    for onto in (tiny_onto, with_vocabulary(tiny_onto, ["D", "C", "B", "A"], "reversed")):
        for rule in ("exact", GUARD):
            seen = seen_genes(onto, rule)
            got = rule_values(screen, onto, rows, rule)
            want = [brute_force([screen.genes[i] for i in r], y[r].tolist(), seen) for r in rows]
            assert got["distinct_inputs"].tolist() == [w[0] for w in want]
            assert got["wildtype_inputs"].tolist() == [w[1] for w in want]
            expect = np.array([np.nan if w[2] is None else w[2] for w in want])
            np.testing.assert_allclose(got["ceiling"], expect, rtol=1e-9, atol=1e-12)
            s = summarise(got["ceiling"])
            defined = expect[~np.isnan(expect)]
            assert s["undefined"] == int(np.isnan(expect).sum()) and s["n"] == len(defined)
            q05, med, q95 = np.quantile(defined, [0.05, 0.5, 0.95])
            assert (s["q05"], s["median"], s["q95"]) == pytest.approx((q05, med, q95))
    # the case is not degenerate: the guard hides something and the ceilings vary
    guard = rule_values(screen, tiny_onto, rows, GUARD)
    exact = rule_values(screen, tiny_onto, rows, "exact")
    assert (guard["distinct_inputs"] < exact["distinct_inputs"]).any()
    assert len(np.unique(guard["ceiling"][~np.isnan(guard["ceiling"])])) > 3


def test_designs_draw_what_they_say(screen) -> None:
    n = len(screen)
    first = draw_batches(screen, 4, 50, "first", seed=1)
    assert (np.diff(first, axis=1) == 1).all() and first.min() >= 0 and first.max() < n
    rand = draw_batches(screen, 4, 5, "random", seed=10)
    for i, r in enumerate(rand):  # batch i is overfit's --batch-seed 10 + i
        assert r.tolist() == overfit_rows(n, 4, 10 + i).tolist()
    query = query_groups(screen)
    assert len(np.unique(query)) == len(QUERIES)
    grouped = draw_batches(screen, 4, 50, "query-pair", seed=1)
    assert all(len(set(query[r].tolist())) == 1 and len(set(r.tolist())) == 4 for r in grouped)
    assert (draw_batches(screen, 4, 50, "query-pair", seed=1) == grouped).all()  # seeded
    with pytest.raises(ConfigError, match="no query of constructed has 6 records"):
        draw_batches(screen, 6, 5, "query-pair")
    with pytest.raises(ConfigError, match="exceeds the 20 records"):
        draw_batches(screen, 21, 5, "first")
    with pytest.raises(ConfigError, match="--design must be one of"):
        draw_batches(screen, 4, 5, "nonsense")


def test_all_subsets_of_a_tiny_batch_size_agree(tiny_onto, screen) -> None:
    """Every 3-record batch of the screen at once: the exhaustive distribution, brute-forced."""
    rows = np.array(list(itertools.combinations(range(len(screen)), 3)))
    got = rule_values(screen, tiny_onto, rows, GUARD)
    seen = seen_genes(tiny_onto, GUARD)
    y = screen.values[:, 0]
    want = [brute_force([screen.genes[i] for i in r], y[r].tolist(), seen)[0] for r in rows]
    assert np.bincount(got["distinct_inputs"]).tolist() == np.bincount(want).tolist()


def test_real_build_agrees_with_the_one_batch_ceiling() -> None:
    onto = compiled("torchcell-2017")
    ds = simulate_trigenic(seed=0).dataset
    out = ceiling_distribution(ds, onto, batches=40, design="random", seed=0, shuffles=1)
    first = out["rules"][GUARD]["first_batch"]
    one = identifiability_ceiling(ds.subset(slice(0, 32)), onto, deletion_rule=GUARD)
    assert first == {"ceiling": pytest.approx(one["ceiling_pearson"]), "distinct_inputs": 6,
                     "wildtype_inputs": 27}  # fmt: skip
    rows = draw_batches(ds, 32, 40, "random", 0)
    values = rule_values(ds, onto, rows, GUARD)
    for i in range(0, 40, 8):  # batch by batch, the same numbers as the one-batch function
        c = identifiability_ceiling(ds.subset(rows[i]), onto, deletion_rule=GUARD)
        assert values["distinct_inputs"][i] == c["distinct_inputs"]
        assert values["ceiling"][i] == pytest.approx(c["ceiling_pearson"])
    assert list(out["orders"]) == ["recipe (sorted)", "shuffled (seed 0)"]
    assert out["orders"]["shuffled (seed 0)"]["exact"] is out["rules"]["exact"]
    for rule in ("exact", GUARD):
        assert {"median", "q05", "q95"} <= set(out["rules"][rule]["ceiling"])
    assert out["rules"][GUARD]["ceiling"]["median"] < out["rules"]["exact"]["ceiling"]["median"]
