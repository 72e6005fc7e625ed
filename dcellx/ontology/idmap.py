"""Yeast gene identifiers: SGD ID, standard name (symbol) and systematic ORF name.

The ontology, the genotype files and DCell's model key genes by systematic ORF name
(``YAL001C``). Annotation files name a gene in several ways (GAF column 2 = SGD ID, column 3 =
symbol, column 11 = aliases in any order), so annotations are resolved to ORFs through one
shipped table (``ids/yeast_clean4.txt``: symbol, locus_name, ..., sgd).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from dcellx.errors import InputError
from dcellx.fileio import read_text

# Yeast systematic names: nuclear ORFs (YAL001C, YDR374W-A), mitochondrial (Q0010), 2-micron
# plasmid (R0010W) and the ncRNA names of today's SGD (YNCG0026W; YNCQ... on the mitochondrion).
SYSTEMATIC_NAME = re.compile(r"Y[A-P][LR]\d{3}[WC](?:-[A-Z])?|Q\d{4}|R\d{4}[WC]|YNC[A-Q]\d{4}[WC]")


def is_systematic_name(name: str) -> bool:
    """Whether ``name`` looks like a yeast systematic gene name (see ``SYSTEMATIC_NAME``)."""
    return SYSTEMATIC_NAME.fullmatch(name) is not None


@dataclass
class GeneIdMap:
    """Lookups to systematic ORF names; ambiguous keys (two ORFs) are left out, not guessed."""

    source: str
    by_sgd_id: dict[str, str] = field(default_factory=dict)
    by_symbol: dict[str, str] = field(default_factory=dict)  # upper-cased symbols and aliases
    orfs: list[str] = field(default_factory=list)  # every ORF of the table, sorted

    def symbol_to_orf(self, symbol: str) -> str | None:
        return self.by_symbol.get(symbol.upper())


def read_id_map(path: str | Path) -> GeneIdMap:
    """Read a tab-separated table with ``symbol`` and ``locus_name`` (and optionally ``sgd``).

    A ``symbol`` cell may list ``;``-joined aliases, the standard name first (``NTG1;OGG2``).
    A standard name wins over another gene's alias; an alias or SGD ID shared by several ORFs
    (the table lists ``-`` as the SGD ID of three loci) is ambiguous and left out.
    """
    path = Path(path)
    lines = read_text(path).splitlines()
    if not lines:
        raise InputError(path, None, "empty gene id table")
    header = [c.strip() for c in lines[0].split("\t")]
    missing = [c for c in ("symbol", "locus_name") if c not in header]
    if missing:
        raise InputError(path, 1, f"missing column(s) {missing} (columns: {header})")
    si, li = header.index("symbol"), header.index("locus_name")
    di = header.index("sgd") if "sgd" in header else None
    standard: dict[str, str] = {}
    aliases: dict[str, set[str]] = {}
    sgd: dict[str, set[str]] = {}
    orfs: set[str] = set()
    for lineno, line in enumerate(lines[1:], 2):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) <= max(si, li):
            raise InputError(path, lineno, f"expected {len(header)} tab-separated fields")
        names = [n.strip().upper() for n in cells[si].split(";") if n.strip()]
        locus = cells[li].strip()
        if not names or not locus:
            raise InputError(path, lineno, "empty symbol or locus_name")
        if standard.get(names[0], locus) != locus:
            problem = f"standard name {names[0]} given to {standard[names[0]]} and {locus}"
            raise InputError(path, lineno, problem)
        standard[names[0]] = locus
        orfs.add(locus)
        for alias in names[1:]:
            aliases.setdefault(alias, set()).add(locus)
        if di is not None and di < len(cells) and cells[di].strip() not in ("", "-"):
            sgd.setdefault(cells[di].strip(), set()).add(locus)
    by_symbol = {a: next(iter(loci)) for a, loci in aliases.items() if len(loci) == 1}
    by_symbol.update(standard)
    by_sgd = {k: next(iter(v)) for k, v in sgd.items() if len(v) == 1}
    return GeneIdMap(str(path), by_sgd, by_symbol, sorted(orfs))
