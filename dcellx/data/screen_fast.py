"""The screen readers' rules applied to a whole block of rows at once (``dcellx.data.blocks``).

The same filters, in the same order and with the same counts, as the line-by-line rules of the
screen formats (``dcellx.data.formats.sga_rows``): strain ids are parsed once per distinct
(strain, allele, array type) string -- a screen names ~10^4 strains across ~10^7 rows -- and every
row's genes, allele types, filters and skips are numpy operations over the block. A block the
rules cannot take whole (a strain id without an ORF, anywhere in it) returns ``False`` before
anything is recorded, and the reader re-reads that block line by line to name the line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dcellx.data.blocks import TextBlock
from dcellx.data.sga import TYPE_CODE, ScreenCollector, _parse_strain
from dcellx.data.store import repeats_a_gene


@dataclass
class RowRules:
    """What a reader keeps: the phenotype column, the filters (``None``: not set)."""

    phenotype: str
    wanted: set[str] | None = None
    max_pvalue: float | None = None
    min_abs_epsilon: float | None = None
    kinds: set[str] | None = None  # Kuzmin mutant types
    drop_ho: str | None = None  # the ORF dropped from gene sets (Kuzmin: HO)
    arraytype: bool = False  # Costanzo: array allele types also read Arraytype/Temp

    def meta_role(self) -> str:
        return "arraytype" if self.arraytype else "type"

    def strings(self) -> list[str]:
        """The roles read as (dictionary-encoded) strings."""
        return ["query", "query_allele", "array", "array_allele", self.meta_role()]

    def roles(self) -> tuple[list[str], list[str]]:
        return self.strings(), self.numbers()

    def numbers(self) -> list[str]:
        roles = [self.phenotype]
        roles += ["pvalue"] if self.max_pvalue is not None else []
        roles += ["epsilon"] if self.min_abs_epsilon is not None else []
        return list(dict.fromkeys(roles))


class StrainTable:
    """Parsed strains: genes (vocabulary codes, -1 padded) and allele-type codes of each."""

    def __init__(self, out: ScreenCollector) -> None:
        self.out = out
        self.index: dict[tuple[str, str, str], int] = {}
        self.genes: list[list[int]] = []
        self.types: list[list[int]] = []

    def lookup(self, triples: list[tuple[str, str, str]]) -> np.ndarray | None:
        """Entry of each (strain, allele, array type); ``None`` if one names no ORF."""
        out = np.empty(len(triples), dtype=np.int64)
        for i, t in enumerate(triples):
            e = self.index.get(t)
            if e is None:
                parsed = _parse_strain(*t)
                if parsed is None:
                    return None
                e = self.index[t] = len(self.genes)
                self.genes.append([self.out.code(g) for g, _ in parsed])
                self.types.append([TYPE_CODE[k] for _, k in parsed])
            out[i] = e
        return out

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(genes [S, k], types [S, k]) of every strain so far (rebuilt only when it grew)."""
        cached = getattr(self, "_arrays", None)
        if cached is not None and len(cached[0]) == len(self.genes):
            return cached
        k = max(map(len, self.genes), default=1)
        g = np.full((len(self.genes), k), -1, dtype=np.int32)
        t = np.full((len(self.genes), k), -1, dtype=np.int8)
        for i, (gs, ts) in enumerate(zip(self.genes, self.types, strict=True)):
            g[i, : len(gs)], t[i, : len(ts)] = gs, ts
        self._arrays = g, t
        return g, t


def _strains(
    table: StrainTable,
    strain: tuple[np.ndarray, list[str]],
    allele: tuple[np.ndarray, list[str]],
    arraytype: tuple[np.ndarray, list[str]] | None,
) -> np.ndarray | None:
    """Strain-table entry per row, parsing each distinct (strain, allele, array type) once."""
    (s, sv), (a, av) = strain, allele
    t, tv = arraytype if arraytype is not None else (np.zeros_like(s), [""])
    found = _distinct(s.astype(np.int64) * len(tv) + t, a, len(sv) * len(tv))
    if found is not None:  # each (strain, array type) has one allele name: a table lookup
        used, alleles, inv = found
        si, ti = np.divmod(used, len(tv))
        ai = alleles
    else:
        key = (s.astype(np.int64) * len(av) + a) * len(tv) + t
        uniq, inv = np.unique(key, return_inverse=True)
        si, rest = np.divmod(uniq, len(av) * len(tv))
        ai, ti = np.divmod(rest, len(tv))
    triples = [
        (sv[x], av[y], tv[z].strip())
        for x, y, z in zip(si.tolist(), ai.tolist(), ti.tolist(), strict=True)
    ]
    entries = table.lookup(triples)
    return None if entries is None else entries[inv.ravel()]


def _distinct(key: np.ndarray, other: np.ndarray, size: int):
    """(distinct keys, their ``other`` value, inverse) when every key has one ``other`` value
    and ``size`` is small enough for a table; else ``None`` (the caller sorts instead)."""
    if size > 1 << 24 or len(key) == 0:
        return None
    first = np.full(size, -1, dtype=np.int64)
    first[key[::-1]] = other[::-1]  # the last write wins: the first occurrence's value
    if not (first[key] == other).all():
        return None
    present = np.zeros(size, dtype=bool)
    present[key] = True
    used = np.flatnonzero(present)
    slot = np.cumsum(present) - 1
    return used, first[used], slot[key]


def read_block(block: TextBlock, out: ScreenCollector, table: StrainTable, rules: RowRules) -> bool:
    """Apply ``rules`` to every row of ``block`` and record the result in ``out``; ``False``
    (nothing recorded) when the block must be read line by line."""
    meta_role = rules.meta_role()
    cols = block.parsed(rules.strings(), rules.numbers())
    if cols is None:
        return False
    n = len(cols["lines"])
    mc, mv = cols[meta_role]
    meta_text = [v.strip().casefold() if meta_role == "type" else v.strip() for v in mv]
    meta = np.asarray([out.level(_META[meta_role], v) for v in meta_text], dtype=np.int32)[mc]
    meta = meta.astype(np.uint16) if len(out.levels[_META[meta_role]]) < 1 << 16 else meta
    q = _strains(table, cols["query"], cols["query_allele"], None)
    arraytype = cols[meta_role] if rules.arraytype else None
    a = _strains(table, cols["array"], cols["array_allele"], arraytype)
    if q is None or a is None:
        return False
    g_tab, t_tab = table.arrays()
    genes = np.concatenate([g_tab[q], g_tab[a]], axis=1)
    types = np.concatenate([t_tab[q], t_tab[a]], axis=1)
    keep = np.ones(n, dtype=bool)
    dropped: dict[str, int] = {}
    if rules.kinds is not None:  # Kuzmin: the mutant type comes first
        ok_kind = np.asarray([v in rules.kinds for v in meta_text], dtype=bool)
        keep &= ok_kind[mc]
        dropped["mutant_types"] = int(n - keep.sum())
    if rules.drop_ho is not None and rules.drop_ho in out.index:
        ho = genes == out.index[rules.drop_ho]
        genes[ho], types[ho] = -1, -1
    if rules.wanted is not None:
        allowed = np.asarray([t in rules.wanted for t in TYPE_CODE], dtype=bool)
        bad = ((types >= 0) & ~allowed[np.clip(types, 0, None)]).any(axis=1)
        dropped["allele_types"] = int((keep & bad).sum())
        keep &= ~bad
    if rules.max_pvalue is not None:
        p = cols["pvalue"]
        bad = np.isnan(p) | (p > rules.max_pvalue)
        dropped["max_pvalue"] = int((keep & bad).sum())
        keep &= ~bad
    if rules.min_abs_epsilon is not None:
        e = cols["epsilon"]
        bad = np.isnan(e) | (np.abs(e) < rules.min_abs_epsilon)
        dropped["min_abs_epsilon"] = int((keep & bad).sum())
        keep &= ~bad
    value = cols[rules.phenotype]
    skips = {}
    missing = keep & np.isnan(value)
    skips[f"rows without {rules.phenotype}"] = int(missing.sum())
    keep &= ~missing
    count = (genes >= 0).sum(axis=1)
    empty = keep & (count == 0)
    skips["rows with HO as the only gene"] = int(empty.sum())
    keep &= ~empty
    twice = keep & repeats_a_gene(genes)
    skips["rows naming one gene twice"] = int(twice.sum())
    keep &= ~twice
    # commit: nothing above touched ``out`` except vocabulary codes and levels
    out.read += n
    for name, k in dropped.items():
        out.dropped[name] += k
    for why, k in skips.items():
        if k:
            out.skipped[why] += k
    genes, types = genes[keep], types[keep]
    order = np.argsort(genes < 0, axis=1, kind="stable")  # pads last, gene order kept
    out.add_block(
        {
            "codes": np.take_along_axis(genes, order, axis=1),
            "types": np.take_along_axis(types, order, axis=1),
            "values": value[keep][:, None],
            "lines": cols["lines"][keep],
            f"meta:{_META[meta_role]}": meta[keep],
        }
    )
    return True


_META = {"arraytype": "arraytype", "type": "mutant_type"}
