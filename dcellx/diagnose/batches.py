"""Identifiability ceilings over many seeded batches, no training (``dcellx diagnose --batches``).

One batch's ceiling (``dcellx.diagnose.ceiling``) depends on which records happen to be in it;
this module draws N batches of a data file by a design and gives the distribution of the ceiling,
the distinct effective inputs and the genotypes seen as wild type, under every deletion rule and
several gene-vocabulary orders (the guard compares positions in it). Designs:

* ``first``: B consecutive records from a seeded offset in file order -- the layout of a file's
  first B records (in a screen grouped by query, one query and its array genes in plate order);
* ``random``: B distinct records drawn uniformly, each batch as ``overfit_rows`` draws it
  (batch i = ``--batch-seed`` seed + i), so the report's shuffled draw is one of them;
* ``query-pair``: one seeded query (a record's genes but the last, as written: the query pair of
  a trigenic screen) with at least B records, and B of its records drawn at random.

Every batch of every rule and order is the same set of rows, so rules, orders and builds are
compared batch by batch. Records map once to the group of their visible gene set
(``visible_keys``); a batch is then rows of integers, and all N batches are summed at once with
``np.bincount`` over (batch, group) segments: 1,000 batches take milliseconds after the mapping.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dcellx.data.genotypes import GenotypeDataset
from dcellx.diagnose.ceiling import visible_keys
from dcellx.errors import ConfigError
from dcellx.nn.deletion import DELETION_RULES
from dcellx.ontology.compiled import CompiledOntology
from dcellx.ontology.vocabulary import shuffled_vocabulary
from dcellx.train.data import overfit_rows

DESIGNS: tuple[str, ...] = ("first", "random", "query-pair")
QUANTITIES: tuple[str, ...] = ("ceiling", "distinct_inputs", "wildtype_inputs")


def query_groups(ds: GenotypeDataset) -> np.ndarray:
    """int64 [n]: the query of each record, numbered: its genes but the last, as written (a
    trigenic record ``qa qb array`` -> {qa, qb}; a single mutant's query is empty)."""
    codes = ds.codes.astype(np.int64)
    last = np.maximum(ds.lengths - 1, 0)
    query = codes.copy()
    query[np.arange(len(ds)), last] = -1
    query.sort(axis=1)
    if not len(ds):
        return np.zeros(0, np.int64)
    return np.unique(query, axis=0, return_inverse=True)[1].reshape(-1).astype(np.int64)


def draw_batches(
    ds: GenotypeDataset, batch_size: int, batches: int, design: str, seed: int = 0
) -> np.ndarray:
    """int64 [batches, batch_size]: the rows of each seeded batch under ``design`` (module doc)."""
    n = len(ds)
    if design not in DESIGNS:
        raise ConfigError(f"--design must be one of {', '.join(DESIGNS)}, not {design!r}")
    if batches < 1 or batch_size < 1:
        raise ConfigError(
            f"--batches and --batch-size must be at least 1 ({batches}, {batch_size})"
        )
    if batch_size > n:
        raise ConfigError(f"--batch-size {batch_size} exceeds the {n} records of {ds.source}")
    if design == "random":
        return np.stack([overfit_rows(n, batch_size, seed + i) for i in range(batches)])
    rng = np.random.default_rng(seed)
    if design == "first":
        starts = rng.integers(0, n - batch_size + 1, size=batches)
        return starts[:, None] + np.arange(batch_size, dtype=np.int64)
    query = query_groups(ds)
    sizes = np.bincount(query)
    eligible = np.nonzero(sizes >= batch_size)[0]
    if not len(eligible):
        raise ConfigError(
            f"--design query-pair: no query of {ds.source} has {batch_size} records "
            f"(the largest has {int(sizes.max())})"
        )
    members = np.argsort(query, kind="stable")
    ptr = np.concatenate([[0], np.cumsum(sizes)])
    out = np.empty((batches, batch_size), dtype=np.int64)
    for i, q in enumerate(rng.choice(eligible, size=batches).tolist()):
        pick = np.sort(rng.choice(int(sizes[q]), batch_size, replace=False))
        out[i] = members[ptr[q] + pick]
    return out


def batch_values(
    group: np.ndarray, n_visible: np.ndarray, y: np.ndarray, rows: np.ndarray
) -> dict[str, np.ndarray]:
    """Per batch (row of ``rows``): ``distinct_inputs``, ``wildtype_inputs`` and ``ceiling``
    (float, NaN where undefined), computed for all batches at once.

    ``group[i]``/``n_visible[i]``: record i's visible-set group and visible gene count
    (``visible_keys``); ``y``: its label. The ceiling is sqrt(SS_between / SS_total) of the
    batch's labels grouped by input, as ``identifiability_ceiling`` computes for one batch:
    1 when every input is distinct, undefined for constant labels or a single input.
    """
    n_b, size = rows.shape
    g = group[rows]
    order = np.argsort(g, axis=1, kind="stable")
    g = np.take_along_axis(g, order, axis=1)
    yb = np.take_along_axis(y[rows], order, axis=1)
    yc = yb - yb.mean(axis=1, keepdims=True)
    new = np.ones_like(g, dtype=bool)
    new[:, 1:] = g[:, 1:] != g[:, :-1]  # a (batch, group) segment starts here
    distinct = new.sum(axis=1)
    seg = np.cumsum(new.ravel()) - 1
    seg_sum = np.bincount(seg, weights=yc.ravel())
    seg_n = np.bincount(seg)
    seg_batch = np.nonzero(new.ravel())[0] // size
    ss_between = np.bincount(seg_batch, weights=seg_sum**2 / seg_n, minlength=n_b)
    ss_total = (yc**2).sum(axis=1)
    scale = np.maximum(1.0, np.abs(yb).max(axis=1))
    constant = np.ptp(yb, axis=1) <= 1e-12 * scale  # as ceiling._constant
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.clip(ss_between / ss_total, 0.0, 1.0)
    ceiling = np.sqrt(ratio)
    ceiling[distinct == size] = 1.0
    ceiling[constant | (distinct == 1) | (ratio == 0.0) & (distinct < size)] = np.nan
    wild = (n_visible[rows] == 0).sum(axis=1)
    return {"ceiling": ceiling, "distinct_inputs": distinct, "wildtype_inputs": wild}


def summarise(values: np.ndarray) -> dict[str, Any]:
    """``median``, ``q05``, ``q95``, ``mean``, ``min``, ``max`` over the defined values, with
    ``n`` (defined) and ``undefined`` (NaN) counts; None where nothing is defined."""
    v = np.asarray(values, dtype=np.float64)
    ok = v[~np.isnan(v)]
    out: dict[str, Any] = {"n": int(len(ok)), "undefined": int(len(v) - len(ok))}
    if not len(ok):
        return {**out, **dict.fromkeys(("median", "q05", "q95", "mean", "min", "max"))}
    q05, med, q95 = np.quantile(ok, [0.05, 0.5, 0.95]).tolist()
    return {
        **out,
        "median": med,
        "q05": q05,
        "q95": q95,
        "mean": float(ok.mean()),
        "min": float(ok.min()),
        "max": float(ok.max()),
    }


def rule_values(
    ds: GenotypeDataset, onto: CompiledOntology, rows: np.ndarray, rule: str, column: int = 0
) -> dict[str, np.ndarray]:
    """``batch_values`` of the batches ``rows`` of ``ds`` on ``onto`` under ``rule``."""
    group, n_visible, _ = visible_keys(ds, onto, rule)
    return batch_values(group, n_visible, ds.values[:, column], rows)


def vocabulary_orders(
    onto: CompiledOntology, label: str, shuffles: int
) -> dict[str, CompiledOntology]:
    """``onto`` as given (``label``) and in ``shuffles`` seeded random vocabulary orders."""
    out = {label: onto}
    for k in range(shuffles):
        out[f"shuffled (seed {k})"] = shuffled_vocabulary(onto, k)
    return out


def ceiling_distribution(
    ds: GenotypeDataset,
    onto: CompiledOntology,
    *,
    batch_size: int = 32,
    batches: int = 1000,
    design: str = "first",
    seed: int = 0,
    order_label: str = "recipe (sorted)",
    shuffles: int = 2,
    column: int = 0,
) -> dict[str, Any]:
    """The distribution over ``batches`` seeded batches of every ``QUANTITIES`` entry, per rule
    (``rules``: the given vocabulary) and per vocabulary order (``orders``: the given one and
    ``shuffles`` seeded shuffles; exact deletions read no position, so their entry is shared),
    with the file's own first batch (``first_batch``) beside it."""
    rows = draw_batches(ds, batch_size, batches, design, seed)
    first = np.arange(batch_size, dtype=np.int64)[None, :]
    orders: dict[str, dict[str, Any]] = {}
    exact: dict[str, Any] | None = None
    for label, ordered in vocabulary_orders(onto, order_label, shuffles).items():
        orders[label] = {}
        for rule in DELETION_RULES:
            if rule == "exact" and exact is not None:
                orders[label][rule] = exact
                continue
            group, n_visible, _ = visible_keys(ds, ordered, rule)
            y = ds.values[:, column]
            values = batch_values(group, n_visible, y, rows)
            own = batch_values(group, n_visible, y, first)
            entry = {q: summarise(values[q]) for q in QUANTITIES}
            entry["first_batch"] = _first(own)
            orders[label][rule] = entry
            if rule == "exact":
                exact = entry
    return {
        "data": ds.source,
        "go": onto.name,
        "design": design,
        "batch_size": batch_size,
        "batches": batches,
        "seed": seed,
        "records": len(ds),
        "distinct_batches": int(len(np.unique(np.sort(rows, axis=1), axis=0))),
        "rules": orders[order_label],
        "orders": orders,
    }


def _first(values: dict[str, np.ndarray]) -> dict[str, Any]:
    """The one batch of ``values`` as plain numbers (None for an undefined ceiling)."""
    c = float(values["ceiling"][0])
    return {
        "ceiling": None if np.isnan(c) else c,
        "distinct_inputs": int(values["distinct_inputs"][0]),
        "wildtype_inputs": int(values["wildtype_inputs"][0]),
    }
