"""``dcellx diagnose``'s report: what any model could fit on a dataset, before training.

The identifiability ceiling of the scope (the overfit batch or the whole training split), the
gene coverage under one or more ontologies, and the paper preset's capacity, in one dict.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from dcellx.data.datasets import load_dataset
from dcellx.data.genotypes import GenotypeDataset
from dcellx.data.universe import load_ontology_with_datasets
from dcellx.diagnose.batches import DESIGNS, ceiling_distribution
from dcellx.diagnose.capacity import capacity
from dcellx.diagnose.ceiling import identifiability_ceiling
from dcellx.diagnose.coverage import coverage
from dcellx.diagnose.hidden import hidden_deletions
from dcellx.errors import ConfigError
from dcellx.nn.deletion import DELETION_RULES
from dcellx.ontology.compiled import CompiledOntology
from dcellx.ontology.vocabulary import read_vocabulary, with_vocabulary
from dcellx.train.config import DEFAULT_GO

CEILING_KEYS = (
    "samples",
    "distinct_inputs",
    "wildtype_inputs",
    "unknown_genes",
    "unknown_gene_occurrences",
    "ceiling_pearson",
    "ceiling_mse",
)
# What ``diagnose`` shows per deletion rule, side by side.
RULE_KEYS = (*CEILING_KEYS, "hidden_genes", "hidden_gene_occurrences", "largest_group")


def select_samples(
    ds: GenotypeDataset, batch_size: int | None, split: str | None
) -> tuple[GenotypeDataset, str]:
    """The overfit batch (first ``batch_size`` rows of the training file), or the whole split."""
    if split not in (None, "train"):
        raise ConfigError(f"--split must be 'train' (the whole training split), not {split!r}")
    if split == "train" or batch_size is None:
        return ds, "train"
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, not {batch_size}")
    return ds.subset(slice(0, batch_size)), f"first {min(batch_size, len(ds))} of train"


def diagnose_report(
    go: str = DEFAULT_GO,
    data: str = "dcell-dna-repair",
    batch_size: int | None = 32,
    split: str | None = None,
    compare_go: str = "2017,2018",
    deletion_rule: str = "exact",
    vocabulary: Path | None = None,
) -> dict[str, Any]:
    """Ceiling (``CEILING_KEYS`` and the groups behind it), ``coverage`` per recipe of ``go`` and
    the comma-separated ``compare_go``, ``capacity`` of ``go``, and the seconds it took.

    ``rules`` holds the ceiling under every deletion rule and ``hidden`` the genotypes whose
    deletions torchcell's index guard hides, gene by gene and term by term; ``vocabulary`` (a
    file of gene names in the user's order) sets the positions the guard compares."""
    t0 = time.perf_counter()
    if deletion_rule not in DELETION_RULES:
        raise ConfigError(f"unknown deletion rule {deletion_rule!r}; choose from {DELETION_RULES}")
    onto = _ontology(go, vocabulary)
    sample, scope = select_samples(load_dataset(data)["train"], batch_size, split)
    ontos: dict[str, CompiledOntology] = {go: onto}
    for other in (s.strip() for s in compare_go.split(",")):
        if other and other not in ontos:
            ontos[other] = load_ontology_with_datasets(other)
    rules = {r: identifiability_ceiling(sample, onto, deletion_rule=r) for r in DELETION_RULES}
    ceiling = rules[deletion_rule]
    vocab = onto.meta.get("vocabulary") or {}
    return {
        "go": go,
        "data": data,
        "scope": scope,
        "deletion_rule": deletion_rule,
        **{k: ceiling[k] for k in CEILING_KEYS},
        "hidden_genes": ceiling["hidden_genes"],
        "hidden_gene_occurrences": ceiling["hidden_gene_occurrences"],
        "shared_input_samples": ceiling["shared_input_samples"],
        "largest_group": ceiling["largest_group"],
        "unknown_gene_names": ceiling["unknown_gene_names"],
        "vocabulary": {
            "source": vocab.get("source", "the build's genes"),
            "size": vocab.get("size", onto.num_genes),
        },
        "rules": {r: {k: c[k] for k in RULE_KEYS} for r, c in rules.items()},
        "hidden": hidden_deletions(sample, onto),
        "coverage": coverage(sample, ontos),
        "capacity": capacity(onto),
        "seconds": round(time.perf_counter() - t0, 3),
    }


def _ontology(go: str, vocabulary: Path | None) -> CompiledOntology:
    """The build ``go``, with the gene positions of ``vocabulary`` when one is given (the file
    is read first: a bad file fails before a build is compiled)."""
    order = read_vocabulary(vocabulary) if vocabulary is not None else None
    onto = load_ontology_with_datasets(go)
    return onto if order is None else with_vocabulary(onto, order, str(vocabulary), vocabulary)


def batches_report(
    go: str,
    data: str,
    batches: int,
    design: str = "first",
    batch_size: int = 32,
    seed: int = 0,
    vocabulary: Path | None = None,
    shuffles: int = 2,
) -> dict[str, Any]:
    """``dcellx diagnose --batches``: ``ceiling_distribution`` of ``data``'s training records on
    ``go`` (in the order of ``vocabulary`` and ``shuffles`` seeded shuffles), with the seconds."""
    t0 = time.perf_counter()
    if design not in DESIGNS:  # before a build is compiled
        raise ConfigError(f"--design must be one of {', '.join(DESIGNS)}, not {design!r}")
    onto = _ontology(go, vocabulary)
    label = "recipe (sorted)" if vocabulary is None else f"file {vocabulary}"
    ds = load_dataset(data)["train"]
    out = ceiling_distribution(
        ds, onto, batch_size=batch_size, batches=batches, design=design, seed=seed,
        order_label=label, shuffles=shuffles,
    )  # fmt: skip
    return {**out, "data": data, "seconds": round(time.perf_counter() - t0, 3)}
