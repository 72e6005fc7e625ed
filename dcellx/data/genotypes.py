"""Genotype-phenotype datasets: the DCell ``k g1 .. gk value`` format and CSV/TSV tables.

Every reader returns a ``GenotypeDataset`` whose rows are distinct gene *sets*: the same
mutant measured twice (in any gene order) is one genotype, so that a train/test split can
never put one mutant on both sides and averaging replicates is explicit (``counts``).
Loading by name, or any file with its format sniffed (screens too), is ``dcellx.data.datasets``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from dcellx.errors import ConfigError, InputError, warn
from dcellx.fileio import atomic_write_text, read_text

Duplicates = Literal["mean", "error"]


@dataclass
class GenotypeDataset:
    """Perturbed gene sets with their measured phenotypes, one row per distinct genotype."""

    genes: list[tuple[str, ...]]
    values: np.ndarray
    phenotypes: list[str]
    source: str
    # Measurements averaged into each row; left empty it means one measurement per row.
    counts: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    # Optional per-row annotations (e.g. allele types of screen rows), one array entry per row.
    meta: dict[str, np.ndarray] | None = None

    def __post_init__(self) -> None:
        n = len(self.genes)
        self.values = np.ascontiguousarray(self.values, dtype=np.float64).reshape(n, -1)
        if self.values.shape[1] != len(self.phenotypes):
            raise ConfigError(
                f"{self.source}: {self.values.shape[1]} value columns but "
                f"{len(self.phenotypes)} phenotype names"
            )
        counts = np.asarray(self.counts, dtype=np.int64)
        self.counts = np.ones(n, dtype=np.int64) if counts.size == 0 else counts
        if self.counts.shape != (n,):
            raise ConfigError(f"{self.source}: counts has shape {self.counts.shape}, need ({n},)")
        if self.meta is not None:
            self.meta = {k: np.asarray(v) for k, v in self.meta.items()}
            bad = {k: v.shape for k, v in self.meta.items() if v.shape[:1] != (n,)}
            if bad:
                raise ConfigError(f"{self.source}: meta arrays need {n} rows, got {bad}")

    def __len__(self) -> int:
        return len(self.genes)

    def subset(self, idx: Sequence[int] | np.ndarray | slice) -> GenotypeDataset:
        """Rows selected by integer indices, a boolean mask or a slice (order as given)."""
        rows = np.arange(len(self))[idx]
        return GenotypeDataset(
            genes=[self.genes[i] for i in rows.tolist()],
            values=self.values[rows],
            phenotypes=list(self.phenotypes),
            source=self.source,
            counts=self.counts[rows],
            meta=None if self.meta is None else {k: v[rows] for k, v in self.meta.items()},
        )


def _read_lines(path: Path) -> list[str]:
    """The file's lines (plain or gzip); a byte that is not UTF-8 is refused with file:line."""
    return read_text(path).splitlines()


def _records(lines: Iterable[str]) -> Iterable[tuple[int, str]]:
    """(1-based line number, line) for lines holding data: blank and '#' lines are skipped."""
    for lineno, line in enumerate(lines, 1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            yield lineno, stripped


def _number(text: str, path: Path, lineno: int, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(path, lineno, f"{what} is not a number: {text!r}") from None
    if not math.isfinite(value):
        raise InputError(path, lineno, f"{what} is not finite: {text!r}")
    return value


def _check_genes(genes: tuple[str, ...], path: Path, lineno: int) -> None:
    if any(not g for g in genes):
        raise InputError(path, lineno, f"empty gene name in {';'.join(genes)!r}")
    if len(set(genes)) != len(genes):
        raise InputError(path, lineno, f"a gene is listed twice in {' '.join(genes)!r}")


class _Collector:
    """Merges repeated gene sets as rows arrive, keeping first-seen order and gene order."""

    def __init__(self, path: Path, duplicates: Duplicates) -> None:
        if duplicates not in ("mean", "error"):
            raise ConfigError(f"duplicates must be 'mean' or 'error', not {duplicates!r}")
        self.path, self.duplicates = path, duplicates
        self.index: dict[frozenset[str], int] = {}
        self.genes: list[tuple[str, ...]] = []
        self.sums: list[list[float]] = []
        self.first: list[tuple[int, list[float]]] = []
        self.counts: list[int] = []
        self.conflicted = bytearray()  # 1 where a row's measurements disagree (1 byte a row)
        self.first_conflict: tuple[int, int] | None = None  # (row, line)

    def add(self, genes: tuple[str, ...], values: list[float], lineno: int) -> None:
        key = frozenset(genes)
        row = self.index.get(key)
        if row is None:
            self.index[key] = len(self.genes)
            self.genes.append(genes)
            self.sums.append(list(values))
            self.first.append((lineno, values))
            self.counts.append(1)
            self.conflicted.append(0)
            return
        first_line, first_values = self.first[row]
        if values != first_values:
            if self.duplicates == "error":
                raise InputError(
                    self.path,
                    lineno,
                    f"duplicate genotype {' '.join(genes)} (first on line {first_line}) "
                    f"with a different value: {values} vs {first_values}",
                )
            self.conflicted[row] = 1
            if self.first_conflict is None:
                self.first_conflict = (row, lineno)
        self.sums[row] = [a + b for a, b in zip(self.sums[row], values, strict=True)]
        self.counts[row] += 1

    def conflict_message(self) -> str | None:
        """The warning about genotypes whose measurements disagree (after ``<file>: ``), or None
        if none did."""
        if self.first_conflict is None:
            return None
        row, line = self.first_conflict
        return (
            f"{self.conflicted.count(1)} genotype(s) measured more than once "
            f"with different values were averaged (first: {' '.join(self.genes[row])}, lines "
            f"{self.first[row][0]} and {line}); --duplicates error refuses them"
        )

    def dataset(self, phenotypes: list[str]) -> GenotypeDataset:
        if not self.genes:
            raise InputError(self.path, None, "no genotypes found")
        message = self.conflict_message()
        if message is not None:
            warn(f"{self.path}: {message}")
        counts = np.asarray(self.counts, dtype=np.int64)
        values = np.asarray(self.sums, dtype=np.float64) / counts[:, None]
        return GenotypeDataset(self.genes, values, phenotypes, str(self.path), counts)


def _parse_dcell(lines: list[str], path: Path, duplicates: Duplicates) -> GenotypeDataset:
    out = _Collector(path, duplicates)
    for lineno, line in _records(lines):
        fields = line.split()
        try:
            k = int(fields[0])
        except ValueError:
            problem = f"gene count k is not an integer: {fields[0]!r}"
            if not out.genes and ("," in line or "\t" in line):  # a table's header line
                columns = [c.strip() for c in next(csv.reader([line], delimiter=_sep(line)))]
                problem = (
                    f"a table without a 'genes' column (columns: {columns}); name the column of "
                    "';'-joined gene names 'genes' (or write the DCell format 'k g1 .. gk value')"
                )
            raise InputError(path, lineno, problem) from None
        if k < 1:
            raise InputError(path, lineno, f"gene count k must be at least 1, got {k}")
        if len(fields) != k + 2:
            raise InputError(
                path, lineno, f"k={k} needs {k + 2} fields (k, {k} genes, value), got {len(fields)}"
            )
        genes = tuple(fields[1:-1])
        _check_genes(genes, path, lineno)
        out.add(genes, [_number(fields[-1], path, lineno, "value")], lineno)
    return out.dataset(["value"])


def _sep(header: str) -> str:
    """A table's delimiter, from its header line: a tab if it has one, else a comma."""
    return "\t" if "\t" in header else ","


def _parse_table(lines: list[str], path: Path, duplicates: Duplicates) -> GenotypeDataset:
    records = iter(_records(lines))
    header_line, header_text = next(records, (1, ""))
    delimiter = _sep(header_text)
    header = [c.strip() for c in next(csv.reader([header_text], delimiter=delimiter))]
    if "genes" not in header:
        raise InputError(path, header_line, f"missing 'genes' column (columns: {header})")
    gcol = header.index("genes")
    phenotypes = [c for i, c in enumerate(header) if i != gcol]
    if not phenotypes:
        raise InputError(path, header_line, "no phenotype columns besides 'genes'")
    out = _Collector(path, duplicates)
    for lineno, text in records:
        cells = next(csv.reader([text], delimiter=delimiter))
        if len(cells) != len(header):
            raise InputError(path, lineno, f"expected {len(header)} fields, got {len(cells)}")
        genes = tuple(g.strip() for g in cells[gcol].split(";"))
        _check_genes(genes, path, lineno)
        values = [
            _number(c.strip(), path, lineno, f"column {name!r}")
            for name, c in zip(header, cells, strict=True)
            if name != "genes"
        ]
        out.add(genes, values, lineno)
    return out.dataset(phenotypes)


def read_dcell_genotypes(path: str | Path, *, duplicates: Duplicates = "mean") -> GenotypeDataset:
    """Read the original DCell format: one ``k gene1 .. genek value`` genotype per line."""
    path = Path(path)
    return _parse_dcell(_read_lines(path), path, duplicates)


def read_genotype_table(path: str | Path, *, duplicates: Duplicates = "mean") -> GenotypeDataset:
    """Read a CSV/TSV with a ``genes`` column (``;``-joined ORFs) and numeric phenotype columns."""
    path = Path(path)
    return _parse_table(_read_lines(path), path, duplicates)


def _is_table(lines: list[str]) -> bool:
    for _, text in _records(lines):
        cells = text.replace("\t", ",").split(",")
        return "genes" in (c.strip().strip("\"'") for c in cells)
    return False


def read_genotypes(path: str | Path, *, duplicates: Duplicates = "mean") -> GenotypeDataset:
    """A DCell-format file or a genotype table, told apart by the first data line."""
    path = Path(path)
    lines = _read_lines(path)
    parse = _parse_table if _is_table(lines) else _parse_dcell
    return parse(lines, path, duplicates)


def write_dcell_genotypes(
    ds: GenotypeDataset, path: str | Path, *, header: str | None = None
) -> None:
    """Write the DCell format atomically, so a crash never leaves a truncated training file.

    ``counts`` is not stored: averaged rows are written as single measurements.
    """
    if len(ds.phenotypes) != 1:
        raise ConfigError(f"DCell format holds one phenotype, dataset has {ds.phenotypes}")
    for genes in ds.genes:
        if not genes or any(not g or any(ch.isspace() for ch in g) for g in genes):
            raise ConfigError(f"gene set {genes!r} cannot be written in DCell format")
    path = Path(path)
    parts = [f"# {line}".rstrip() + "\n" for line in (header or "").splitlines()]
    parts += [
        f"{len(g)} {' '.join(g)} {float(v)!r}\n"
        for g, v in zip(ds.genes, ds.values[:, 0], strict=True)
    ]
    atomic_write_text(path, "".join(parts))
