"""Identifiability ceiling: the best fit *any* model on a given ontology can reach.

A DCell model sees a genotype only through its perturbed genes that are inputs of the ontology
(``onto.gene_index``). Two genotypes whose visible perturbed genes form the same set get identical
inputs, hence identical predictions, whatever the weights. Group the samples by that visible set
(a group key); then for squared error the best any model can do is predict each group's mean
``m(k)``, and

    ceiling_mse     = (1/N) sum_i (y_i - m(k_i))^2            (the within-group variance)
    ceiling_pearson = corr(y, m(k)) = sqrt(SS_between / SS_total)

The second identity holds because ``m`` is an orthogonal projection of ``y`` (cov(y, m) = var(m)),
and ``m`` also maximises Pearson among all functions of the key: by Cauchy-Schwarz,
corr(y, f(k)) = cov(m, f) / (sd(y) sd(f)) <= sd(m) / sd(y). So both numbers are exact upper bounds
for an overfit run, not estimates. Each dataset row counts once (replicates were already averaged
into a row), matching how a model is trained on the rows.

With a ``deletion_rule`` (``dcellx.nn.deletion``) the model's input for a genotype deleting the
set D is its set of visible deletions

    E(D) = {(g, t) : g in D, g directly annotated to t, v(g, t) = 1}.

The visible incidences E_g of different genes are disjoint, and E_g is non-empty exactly for the
genes of V = {g : v(g, t) = 1 for some t}, so E(D) = E(D') iff D & V = D' & V: the group key is
the set of perturbed genes in V. Under ``exact`` V is every ontology gene (each has a direct
annotation), the key above; under ``torchcell-index-guard`` a gene whose deletions are all hidden
leaves no trace, like a gene the ontology lacks (counted as ``hidden``, not ``unknown``).
"""

from __future__ import annotations

import math

import numpy as np

from dcellx.data.genotypes import GenotypeDataset
from dcellx.errors import ConfigError
from dcellx.nn.deletion import DELETION_RULES, visible_incidences
from dcellx.ontology.compiled import CompiledOntology


def effective_genes(onto: CompiledOntology, deletion_rule: str = "exact") -> np.ndarray:
    """bool [G]: V, the genes with at least one visible deletion under ``deletion_rule``."""
    if deletion_rule not in DELETION_RULES:
        raise ConfigError(f"unknown deletion rule {deletion_rule!r}; choose from {DELETION_RULES}")
    seen = np.zeros(onto.num_genes, dtype=bool)
    seen[onto.gene_term[0][visible_incidences(onto, deletion_rule)]] = True
    return seen


def visible_keys(
    ds: GenotypeDataset, onto: CompiledOntology, deletion_rule: str = "exact"
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per-sample group id of the effective gene set, visible counts, and unknown gene names.

    Returns ``(group, n_visible, unknown)``: ``group[i]`` numbers the distinct sets D & V
    (0..D-1, order of ``np.unique`` over sorted rows), ``n_visible[i]`` how many of sample i's genes
    are in V, and ``unknown`` every gene occurrence that is not an ontology input (with repeats).
    """
    seen = effective_genes(onto, deletion_rule)
    codes = ds.codes  # [n, k] codes into ds.vocab, -1 padded
    # code -> ontology gene, -1 if not an input; the appended -1 is what padding (-1) reads
    lut = np.append(ds.encode_names(onto.gene_index), -1)
    valid = codes >= 0
    gene = lut[codes]
    unknown = [ds.vocab[c] for c in codes[valid & (gene < 0)].tolist()]  # row-major order
    visible = (gene >= 0) & seen[np.maximum(gene, 0)]
    n = len(ds)
    # Rows with a sentinel past every gene index for what the model cannot see, then sorted:
    # equal visible sets -> equal rows.
    sentinel = onto.num_genes
    mat = np.full((n, max(codes.shape[1], 1)), sentinel, dtype=np.int64)
    mat[:, : codes.shape[1]] = np.where(visible, gene, sentinel)
    mat.sort(axis=1)
    n_visible = visible.sum(axis=1)
    if n == 0:
        return np.zeros(0, np.int64), n_visible, unknown
    _, group = np.unique(mat, axis=0, return_inverse=True)
    return group.reshape(-1).astype(np.int64), n_visible, unknown


def distinct_effective_inputs(
    ds: GenotypeDataset, onto: CompiledOntology, deletion_rule: str = "exact"
) -> int:
    """How many distinct model inputs E(D) the genotypes of ``ds`` give (module doc)."""
    group, _, _ = visible_keys(ds, onto, deletion_rule)
    return int(group.max()) + 1 if len(group) else 0


def identifiability_ceiling(
    ds: GenotypeDataset, onto: CompiledOntology, column: int = 0, deletion_rule: str = "exact"
) -> dict:
    """Exact ceiling of any model on ``onto`` for phenotype ``column`` of ``ds`` (see module doc).

    Keys: ``samples``, ``deletion_rule``, ``distinct_inputs`` (groups), ``wildtype_inputs``
    (samples with no visible deletion: they all share the wild-type input),
    ``shared_input_samples`` (samples in a group of 2+), ``largest_group``, ``unknown_genes``
    (distinct names that are not inputs), ``unknown_gene_occurrences``, ``unknown_gene_names``
    (sorted), ``hidden_genes`` / ``hidden_gene_occurrences`` (ontology genes outside V: every one
    of their deletions is hidden by the rule; 0 under ``exact``), ``ceiling_pearson`` (None when
    undefined: constant ``y``, or every sample in one group so any prediction is constant),
    ``ceiling_mse``. Unknown genes are reported, never an error: they are exactly what the model
    cannot see.
    """
    if not -len(ds.phenotypes) <= column < len(ds.phenotypes):
        raise ConfigError(f"phenotype column {column} out of range for {ds.phenotypes}")
    group, n_visible, unknown = visible_keys(ds, onto, deletion_rule)
    seen = effective_genes(onto, deletion_rule)
    index = onto.gene_index
    hidden = [g for gs in ds.genes for g in gs if g in index and not seen[index[g]]]
    y = ds.values[:, column]
    n = len(y)
    out: dict = {
        "samples": n,
        "phenotype": ds.phenotypes[column],
        "deletion_rule": deletion_rule,
        "distinct_inputs": 0,
        "wildtype_inputs": int((n_visible == 0).sum()),
        "shared_input_samples": 0,
        "largest_group": 0,
        "unknown_genes": len(set(unknown)),
        "unknown_gene_occurrences": len(unknown),
        "unknown_gene_names": sorted(set(unknown)),
        "hidden_genes": len(set(hidden)),
        "hidden_gene_occurrences": len(hidden),
        "ceiling_pearson": None,
        "ceiling_mse": None,
    }
    if n == 0:
        return out
    sizes = np.bincount(group)
    means = np.bincount(group, weights=y) / sizes
    fitted = means[group]
    ss_within = float(np.sum((y - fitted) ** 2))
    ss_total = float(np.sum((y - y.mean()) ** 2))
    out.update(
        distinct_inputs=int(len(sizes)),
        shared_input_samples=int(sizes[sizes > 1].sum()),
        largest_group=int(sizes.max()),
        ceiling_mse=ss_within / n,
    )
    if len(sizes) == n:  # every input unique: a model can in principle fit every sample
        out["ceiling_mse"] = 0.0
        out["ceiling_pearson"] = None if _constant(y) else 1.0
    elif not _constant(y) and len(sizes) > 1:
        ratio = max(0.0, 1.0 - ss_within / ss_total)
        out["ceiling_pearson"] = None if ratio == 0.0 else math.sqrt(min(ratio, 1.0))
    return out


def _constant(y: np.ndarray) -> bool:
    """Treat y as constant when its spread is at rounding level (Pearson is then undefined)."""
    return bool(np.ptp(y) <= 1e-12 * max(1.0, float(np.max(np.abs(y)))))
