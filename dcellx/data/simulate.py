"""Synthetic genotype screens with known ground truth.

A simulated screen answers "can the model recover what was planted?" before real data is blamed.
Genotypes are distinct random gene sets of size ``order``; the ``additive`` teacher is

    y = sum_{g in G} a_g + sum_{{g,h} subset G, planted} b_gh + noise * eps,
    a_g ~ N(0, 1),   b_gh ~ N(0, pair_sd^2) (pair_sd = 0.5),   eps ~ N(0, 1),

with the planted pairs a random ``pair_fraction`` (1%) of the distinct pairs that occur inside the
sampled genotypes (a pair that never occurs could not be recovered). The ``dcell`` teacher is a
hook: a callable mapping the gene sets to outputs (for example a randomly initialised DCell).

Randomness comes from four independent streams spawned from ``seed`` (genotypes, gene effects, pair
effects, noise), so changing ``noise`` keeps the genotypes and planted effects identical.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dcellx.data.genotypes import GenotypeDataset, write_dcell_genotypes
from dcellx.errors import ConfigError, InputError
from dcellx.fileio import read_text
from dcellx.io import registry

TeacherFn = Callable[[list[tuple[str, ...]]], np.ndarray]
TEACHERS = ("additive", "dcell")
DEFAULT_GENES = "costanzo-2016-genes"
MAX_ORDER = 3


@dataclass
class SimulatedScreen:
    """A simulated dataset and the parameters that generated it (empty effects for ``dcell``)."""

    dataset: GenotypeDataset
    gene_effects: dict[str, float]
    pair_effects: dict[tuple[str, str], float]
    teacher: str
    seed: int
    order: int = 2
    noise: float = 0.0
    extra: dict = field(default_factory=dict)

    def header(self) -> str:
        """Comment block for the written file: marks it synthetic and records the recipe."""
        return "\n".join(
            [
                "SYNTHETIC genotypes simulated by dcellx (not measured data)",
                f"teacher={self.teacher} order={self.order} n={len(self.dataset)} "
                f"noise={self.noise!r} seed={self.seed}",
                f"gene_effects={len(self.gene_effects)} planted_pairs={len(self.pair_effects)} "
                f"genes={self.extra.get('genes', '?')} gene_source={self.extra.get('gene_source')}",
            ]
        )

    def write(self, path: str | Path) -> None:
        """Write in DCell format (atomically) with the synthetic header."""
        write_dcell_genotypes(self.dataset, path, header=self.header())


def read_gene_file(path: str | Path) -> list[str]:
    """Genes in file order, first whitespace field per line, '#'/blank lines skipped, deduped."""
    path = registry.resolve(path)
    text = read_text(path)
    genes: dict[str, None] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            genes.setdefault(line.split()[0], None)
    if not genes:
        raise InputError(path, None, "gene list is empty")
    return list(genes)


def sample_gene_sets(num_genes: int, order: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """[n, order] int64 rows of distinct gene indices, ascending within a row, no repeated row,
    in random order.

    Dense sampling (n above a quarter of all C(G, order) sets, when those fit in memory) draws from
    the enumerated sets; otherwise rows are drawn with replacement, rows with a repeated gene
    rejected, duplicates dropped (first draw kept) and the shortfall redrawn. Sets are encoded
    as one integer, sum_j idx_j * G^j, so deduplication is one ``np.unique``.
    """
    total = math.comb(num_genes, order)
    if n > total:
        raise ConfigError(
            f"cannot draw {n} distinct gene sets of size {order} from {num_genes} genes "
            f"(only {total} exist)"
        )
    if n > total // 4 and total <= 2_000_000:
        combos = np.fromiter(
            itertools.chain.from_iterable(itertools.combinations(range(num_genes), order)),
            dtype=np.int64,
            count=total * order,
        ).reshape(total, order)
        return combos[rng.choice(total, size=n, replace=False)]
    weights = num_genes ** np.arange(order, dtype=np.int64)
    chosen = np.empty((0, order), dtype=np.int64)
    seen_keys = np.empty(0, dtype=np.int64)
    while len(chosen) < n:
        need = n - len(chosen)
        draw = np.sort(rng.integers(0, num_genes, size=(int(need * 1.1) + 16, order)), axis=1)
        draw = draw[np.all(np.diff(draw, axis=1) > 0, axis=1)]
        keys = draw @ weights
        _, first = np.unique(keys, return_index=True)
        first.sort()
        draw, keys = draw[first], keys[first]
        fresh = ~np.isin(keys, seen_keys)
        draw, keys = draw[fresh][:need], keys[fresh][:need]
        chosen = np.concatenate([chosen, draw])
        seen_keys = np.concatenate([seen_keys, keys])
    return chosen


def simulate_genotypes(
    genes: list[str] | None = None,
    order: int = 2,
    n: int = 10_000,
    teacher: str = "additive",
    noise: float = 0.1,
    seed: int = 0,
    *,
    teacher_fn: TeacherFn | None = None,
    pair_fraction: float = 0.01,
    pair_sd: float = 0.5,
) -> SimulatedScreen:
    """Simulate ``n`` distinct genotypes of ``order`` genes with a known teacher (module doc).

    ``genes`` defaults to the registered ``costanzo-2016-genes`` list (4,111 ORFs). ``order`` is
    1-3 (2 = double mutants, 3 = triple). ``teacher="dcell"`` needs ``teacher_fn`` (gene sets ->
    [n] outputs); its noise is added the same way. Vectorised: 100k genotypes take well under 1 s.
    """
    if teacher not in TEACHERS:
        raise ConfigError(f"teacher must be one of {TEACHERS}, not {teacher!r}")
    if teacher == "dcell" and teacher_fn is None:
        raise ConfigError("teacher='dcell' needs a teacher_fn (a model mapping gene sets to y)")
    if teacher == "additive" and teacher_fn is not None:
        raise ConfigError("teacher_fn is only used with teacher='dcell'")
    if not 1 <= order <= MAX_ORDER:
        raise ConfigError(f"order must be 1, 2 or 3, not {order}")
    if n < 1:
        raise ConfigError(f"n must be at least 1, not {n}")
    if not (math.isfinite(noise) and noise >= 0):
        raise ConfigError(f"noise must be a finite number >= 0, not {noise}")
    if not 0 <= pair_fraction <= 1:
        raise ConfigError(f"pair_fraction must be in [0, 1], not {pair_fraction}")
    source = "list"
    if genes is None:
        genes, source = read_gene_file(DEFAULT_GENES), DEFAULT_GENES
    genes = list(dict.fromkeys(genes))
    if any(not g or any(ch.isspace() for ch in g) for g in genes):
        raise ConfigError("gene names must be non-empty and contain no whitespace")
    g_count = len(genes)
    s_sets, s_genes, s_pairs, s_noise = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4)
    )
    idx = sample_gene_sets(g_count, order, n, s_sets)

    gene_effects: dict[str, float] = {}
    pair_effects: dict[tuple[str, str], float] = {}
    if teacher == "additive":
        a = s_genes.standard_normal(g_count)
        y = a[idx].sum(axis=1)
        gene_effects = dict(zip(genes, a.tolist(), strict=True))
        if order >= 2:
            combos = np.array(list(itertools.combinations(range(order), 2)))
            lo, hi = combos[:, 0], combos[:, 1]
            pair_keys = idx[:, lo] * g_count + idx[:, hi]  # [n, C(order, 2)], lo < hi
            uniq, inv = np.unique(pair_keys, return_inverse=True)
            k = int(round(pair_fraction * len(uniq)))
            planted = s_pairs.choice(len(uniq), size=k, replace=False)
            b = np.zeros(len(uniq))
            b[planted] = pair_sd * s_pairs.standard_normal(k)
            y = y + b[inv.reshape(pair_keys.shape)].sum(axis=1)
            planted.sort()
            pair_effects = {
                (genes[key // g_count], genes[key % g_count]): float(b[p])
                for p, key in zip(planted.tolist(), uniq[planted].tolist(), strict=True)
            }
    else:
        assert teacher_fn is not None
        gene_sets = [tuple(row) for row in np.array(genes, dtype=object)[idx].tolist()]
        y = np.asarray(teacher_fn(gene_sets), dtype=np.float64).reshape(-1)
        if y.shape != (n,) or not np.all(np.isfinite(y)):
            raise ConfigError(f"teacher_fn must return {n} finite values, got shape {y.shape}")
    y = y + noise * s_noise.standard_normal(n)
    ds = GenotypeDataset(  # the columnar store directly: rows are codes into ``genes``
        values=y[:, None],
        phenotypes=["value"],
        source=f"simulated:{teacher}:order={order}:n={n}:noise={noise}:seed={seed}",
        codes=idx.astype(np.int32),
        vocab=genes,
    )
    return SimulatedScreen(
        dataset=ds,
        gene_effects=gene_effects,
        pair_effects=pair_effects,
        teacher=teacher,
        seed=seed,
        order=order,
        noise=noise,
        extra={"genes": g_count, "gene_source": source},
    )
