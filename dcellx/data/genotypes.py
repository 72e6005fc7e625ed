"""Genotype-phenotype datasets: the DCell ``k g1 .. gk value`` format and CSV/TSV tables.

Every reader returns a ``GenotypeDataset`` whose rows are distinct gene *sets*: the same
mutant measured twice (in any gene order) is one genotype, so that a train/test split can
never put one mutant on both sides and averaging replicates is explicit (``counts``).
Loading by name, or any file with its format sniffed (screens too), is ``dcellx.data.datasets``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from pathlib import Path

from dcellx.data.blocks import block_lines, line_blocks
from dcellx.data.collect import Duplicates, MeasurementLog
from dcellx.data.dcell_blocks import read_dcell_block, split_special
from dcellx.data.sga import ScreenStats, text_sources
from dcellx.data.store import GenotypeDataset
from dcellx.errors import ConfigError, InputError
from dcellx.fileio import atomic_write_text, read_text

__all__ = ["Duplicates", "GenotypeDataset", "read_dcell_genotypes", "read_genotype_table"]


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


def _dcell_lines(records: Iterable[tuple[int, str]], path: Path, out: MeasurementLog) -> None:
    """The line rules of the DCell format: each problem named with its line."""
    for lineno, line in records:
        fields = line.split()
        try:
            k = int(fields[0])
        except ValueError:
            problem = f"gene count k is not an integer: {fields[0]!r}"
            if out.measurements == 0 and ("," in line or "\t" in line):  # a table's header line
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


def _done(out: MeasurementLog, phenotypes: list[str], stats: ScreenStats | None) -> GenotypeDataset:
    """The merged dataset; ``stats`` (if given) says every row was a measurement."""
    ds = out.finish(phenotypes)
    if stats is not None:
        stats.rows = stats.measurements = int(ds.counts.sum())
        stats.kept, stats.skipped, stats.genotypes, stats.cached = {}, {}, len(ds), False
        stats.conflicts = out.conflicts
    return ds


def _sep(header: str) -> str:
    """A table's delimiter, from its header line: a tab if it has one, else a comma."""
    return "\t" if "\t" in header else ","


def _parse_table(
    lines: list[str], path: Path, duplicates: Duplicates, stats: ScreenStats | None = None
) -> GenotypeDataset:
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
    out = MeasurementLog(path, duplicates)
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
    return _done(out, phenotypes, stats)


def read_dcell_genotypes(
    path: str | Path, *, duplicates: Duplicates = "mean", stats: ScreenStats | None = None
) -> GenotypeDataset:
    """Read the original DCell format: one ``k gene1 .. genek value`` genotype per line (plain or
    gzip), in blocks parsed by pyarrow where they allow it (``dcellx.data.dcell_blocks``)."""
    path = Path(path)
    out = MeasurementLog(path, duplicates)
    for label, opener in text_sources(path):
        for start, block in line_blocks(label, opener):
            for special, first, body in split_special(block, start):
                if special or not read_dcell_block(body, first, out):
                    records = ((n, t.strip()) for n, t in block_lines(label, first, body))
                    _dcell_lines(records, path, out)
    return _done(out, ["value"], stats)


def read_genotype_table(
    path: str | Path, *, duplicates: Duplicates = "mean", stats: ScreenStats | None = None
) -> GenotypeDataset:
    """Read a CSV/TSV with a ``genes`` column (``;``-joined ORFs) and numeric phenotype columns."""
    path = Path(path)
    return _parse_table(_read_lines(path), path, duplicates, stats)


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
