"""A gene vocabulary in the user's own order: the positions torchcell's index guard compares.

torchcell's ``dcell_new.py`` lets the deletion of gene g into term t only when g's position in
its gene list is below t's number of direct genes (``dcellx.nn.deletion``). Which deletions
survive therefore depends on the *order* of that list: torchcell's 6,607 genes, not the
vocabulary a recipe records. ``read_vocabulary`` reads such a list (one name a line, in order)
and ``with_vocabulary`` gives a compiled ontology whose ``vocabulary_positions()`` are positions
in it; ``shuffled_vocabulary`` makes the seeded control orders of ``dcellx diagnose --batches``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from dcellx.errors import InputError
from dcellx.fileio import read_text
from dcellx.ontology.compiled import CompiledOntology


def read_vocabulary(path: str | Path) -> list[str]:
    """Gene names one a line, in file order; blank lines and ``#`` comments are skipped.

    A line holding more than one field, or a name listed twice, is an ``InputError`` naming the
    line: either would make a gene's position ambiguous.
    """
    genes: list[str] = []
    first_line: dict[str, int] = {}
    for lineno, raw in enumerate(read_text(path).splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if len(line.split()) > 1:
            raise InputError(path, lineno, f"one gene name a line, not {line!r}")
        if line in first_line:
            raise InputError(
                path, lineno, f"gene {line} listed twice (first at line {first_line[line]})"
            )
        first_line[line] = lineno
        genes.append(line)
    if not genes:
        raise InputError(path, None, "the vocabulary lists no gene")
    return genes


def recipe_vocabulary(onto: CompiledOntology) -> list[str]:
    """The vocabulary the guard uses for ``onto`` as compiled: the recipe's recorded list, else
    the ontology's own genes (``CompiledOntology.vocabulary_positions``)."""
    vocab = (onto.meta.get("vocabulary") or {}).get("genes")
    return list(vocab) if vocab else list(onto.gene_ids)


def with_vocabulary(
    onto: CompiledOntology, genes: list[str], source: str, path: str | Path | None = None
) -> CompiledOntology:
    """``onto`` with ``genes`` (in this order) as its vocabulary; the structure and its content
    hash are unchanged. Every gene of the build needs a position: one missing is an
    ``InputError`` on ``path`` naming how many and the first ones."""
    listed = set(genes)
    missing = [g for g in onto.gene_ids if g not in listed]
    if missing:
        first = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise InputError(
            path if path is not None else source,
            None,
            f"{len(missing)} of the {onto.num_genes} genes of --go {onto.name} are not in the "
            f"vocabulary (first: {first}); the index guard needs every gene's position",
        )
    meta = dict(onto.meta)
    meta["vocabulary"] = {
        "source": source,
        "size": len(genes),
        "without_annotation": len(genes) - onto.num_genes,
        "genes": list(genes),
    }
    return dataclasses.replace(onto, meta=meta)


def shuffled_vocabulary(onto: CompiledOntology, seed: int) -> CompiledOntology:
    """``onto`` with its recipe vocabulary in a seeded random order (a control order)."""
    vocab = recipe_vocabulary(onto)
    order = np.random.default_rng(seed).permutation(len(vocab))
    return with_vocabulary(onto, [vocab[i] for i in order.tolist()], f"shuffled (seed {seed})")
