"""Standard gene names (``RAD52``) to systematic ORFs (``YML032C``).

The ontology and every shipped genotype file key genes by systematic ORF, but screens exported
by hand or by other tools often use standard names. A name the model cannot match is silently
invisible to it, so mapping reports every name it could not resolve, with its count.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Container, Iterable
from pathlib import Path

import numpy as np

from dcellx.data.store import GenotypeDataset
from dcellx.io import registry
from dcellx.ontology.idmap import read_id_map

# Nuclear systematic ORF names: Y, chromosome A-P, arm L/R, 3 digits, strand W/C, optional -A.
# Mitochondrial (Q0010) and 2-micron (R0010W) loci do not match; they still pass through
# ``map_gene_names`` because they are values of the symbol table.
ORF_PATTERN = r"Y[A-P][LR]\d{3}[WC](?:-[A-Z])?"
ORF_RE = re.compile(ORF_PATTERN)

SYMBOL_TABLE = "yeast-symbols"


def is_orf(name: str) -> bool:
    """Whether ``name`` is a nuclear systematic ORF name (see ``ORF_PATTERN``)."""
    return ORF_RE.fullmatch(name) is not None


def load_symbol_table(path_or_name: str | Path = SYMBOL_TABLE) -> dict[str, str]:
    """``{SYMBOL: ORF}`` from a tab-separated table with ``symbol`` and ``locus_name`` columns.

    A ``symbol`` cell may list ``;``-joined aliases, the standard name first (``NTG1;OGG2;SCR1``).
    Symbols are upper-cased so that ``rad52`` (allele style) and ``RAD52`` both resolve. A
    standard name wins over another gene's alias (``ALD4`` is YOR374W, not YMR169C's alias); an
    alias shared by several genes and nobody's standard name is ambiguous and left out, so it is
    reported as unmapped rather than guessed.
    """
    return read_id_map(registry.resolve(path_or_name)).by_symbol


def map_gene_names(
    ds: GenotypeDataset, table: dict[str, str]
) -> tuple[GenotypeDataset, Counter[str]]:
    """Replace standard names by ORFs; return the new dataset and the unmapped names' counts.

    ORF-looking names and loci named in the table pass through unchanged; other names are
    looked up case-insensitively and, when absent, kept as they are and counted (the model will
    not see them). Genotypes that become equal after mapping are merged (count-weighted mean).
    """
    loci = set(table.values())
    unmapped: Counter[str] = Counter()
    index: dict[frozenset[str], int] = {}
    genes: list[tuple[str, ...]] = []
    target = np.empty(len(ds), dtype=np.int64)  # output row of each input row
    for i, row in enumerate(ds.genes):
        mapped: list[str] = []
        for name in row:
            if is_orf(name) or name in loci:
                new = name
            elif name.upper() in table:
                new = table[name.upper()]
            else:
                new = name
                unmapped[name] += 1
            if new not in mapped:  # RAD52 and YML032C in one genotype are one gene
                mapped.append(new)
        j = index.setdefault(frozenset(mapped), len(genes))
        if j == len(genes):
            genes.append(tuple(mapped))
        target[i] = j
    n = len(genes)
    counts = np.bincount(target, weights=ds.counts, minlength=n).astype(np.int64)
    values = np.zeros((n, ds.values.shape[1]))
    np.add.at(values, target, ds.values * ds.counts[:, None])
    values /= np.maximum(counts, 1)[:, None]
    meta = None
    if ds.meta is not None:
        sources: list[list[int]] = [[] for _ in range(n)]
        for i, j in enumerate(target.tolist()):
            sources[j].append(i)
        meta = {k: [_merged(v, rows) for rows in sources] for k, v in ds.meta.items()}
    return GenotypeDataset(genes, values, list(ds.phenotypes), ds.source, counts, meta), unmapped


def _merged(column: np.ndarray, rows: list[int]) -> object:
    """One row's value as is; merged rows' values as their sorted distinct '|'-joined strings."""
    if len(rows) == 1:
        return column[rows[0]]
    parts = {p for i in rows for p in str(column[i]).split("|")}
    return "|".join(sorted(parts))


def _local_symbol_table() -> dict[str, str]:
    """The shipped symbol table if it is cached or mirrored (a hint never downloads), else {}."""
    from dcellx.errors import DcellxError

    try:
        path = registry.locate(SYMBOL_TABLE)
        return {} if path is None else load_symbol_table(path)
    except DcellxError:
        return {}


def mapping_hint(unknown: Iterable[str], known: Container[str]) -> str:
    """What would make ``unknown`` gene names inputs of an ontology whose genes are ``known``:
    standard names through the shipped symbol table (``ids/yeast_clean4.txt``), systematic names
    written in lower case; or, if neither applies, that they may be another organism's. One
    clause, for an error or warning line."""
    names = list(unknown)
    table = _local_symbol_table()
    by_case = [(n, n.upper()) for n in names if n != n.upper() and n.upper() in known]
    rest = [n for n in names if n.upper() not in known]
    by_symbol = [(n, table[n.upper()]) for n in rest if table.get(n.upper()) in known]
    parts = []
    if by_symbol:
        n, orf = by_symbol[0]
        source = registry.REGISTRY[SYMBOL_TABLE].path
        parts.append(
            f"{len(by_symbol)} of {len(names)} are standard names that {source} maps to ORFs "
            f"of the ontology ({n} -> {orf}; dcellx.data.symbols.map_gene_names, docs/data.md: "
            "Your own screens)"
        )
    if by_case:
        n, orf = by_case[0]
        parts.append(
            f"{len(by_case)} of {len(names)} are ORF names in lower case ({n} -> {orf}: write "
            "them in upper case)"
        )
    if not parts:
        return (
            "none is a yeast standard name or an ORF of the ontology in another case (genes "
            "of another organism?)"
        )
    return "; ".join(parts)
