"""Building blocks shared by the SGA screen readers (``dcellx.data.formats``).

Both published screens are big tab-separated tables (Costanzo 2016: ~20 million rows) whose
strain ids encode genes and alleles; this module streams them (plain, gzip or zip), finds columns
by name, parses strain ids and types alleles, and merges measurements into genotypes.

Allele type of a strain, first rule that applies (``allele_type``):

1. strain-id suffix ``damp...`` or allele name containing ``damp`` -> ``damp``;
2. suffix ``tsq``/``tsa`` (temperature-sensitive query/array) -> ``ts``;
3. suffix ``sn``/``dma`` (NatMX query / KanMX array deletion) or allele name ending in ``Δ`` ->
   ``deletion``;
4. array strains only: ``Arraytype/Temp`` ``TSA..`` -> ``ts``, ``DMA..`` -> ``deletion``;
5. allele name with ``-<digit>`` (``lcb1-10``) -> ``ts`` (a heuristic);
6. otherwise ``other``.
"""

from __future__ import annotations

import functools
import math
import re
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from dcellx.data.collect import ALLELE_TYPES, Duplicates, MeasurementLog
from dcellx.data.store import GenotypeDataset
from dcellx.data.symbols import ORF_PATTERN
from dcellx.errors import ConfigError, InputError
from dcellx.fileio import decode_utf8
from dcellx.io.inputs import open_input, open_member, require_regular

TYPE_CODE = {t: i for i, t in enumerate(ALLELE_TYPES)}

_STRAIN_GENES = re.compile(rf"{ORF_PATTERN}(?:\+{ORF_PATTERN})*")
_TS_NAME = re.compile(r"-\d")
_MISSING = {"", "nan", "na", "n/a", "none", "null"}
_CHUNK = 1 << 20

Roles = dict[str, tuple[str, ...]]


def norm_header(name: str) -> str:
    """Header name as lowercase words: 'Genetic interaction score (ε)' -> '... score epsilon'."""
    text = name.strip().casefold().replace("ε", "epsilon").replace("τ", "tau")
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def text_sources(path: Path) -> list[tuple[str, Callable[[], IO[bytes]]]]:
    """(label for messages, opener of the bytes) per text source: the file itself, or each
    .txt/.tsv of a zip. Every opener gives an ``InputStream`` (``dcellx.io.inputs``): a regular
    file, lines and decompressed size bounded. ``data_lines`` decodes them line by line."""
    require_regular(path)  # before zipfile reads it: a FIFO or device never ends
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                names = sorted(
                    n
                    for n in zf.namelist()
                    if n.lower().endswith((".txt", ".tsv"))
                    and not n.startswith("__MACOSX")
                    and not Path(n).name.startswith(".")
                )
            if not names:
                raise InputError(path, None, "zip archive holds no .txt/.tsv file")

            def member(name: str) -> IO[bytes]:
                with zipfile.ZipFile(path) as zf:  # the open member keeps the file alive
                    return open_member(zf, name, f"{path}!{name}")  # type: ignore[return-value]

            return [(f"{path}!{n}", lambda n=n: member(n)) for n in names]
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputError(path, None, f"cannot read: {exc}") from exc
    return [(str(path), lambda: open_input(path))]  # type: ignore[list-item,return-value]


def data_lines(label: str, opener: Callable[[], IO[bytes]]) -> Iterator[tuple[int, str]]:
    """(1-based line, text without newline) for non-blank, non-'#' lines. Each line is decoded
    as UTF-8 (a leading byte-order mark dropped); a byte that is not UTF-8 is refused with its
    file:line, never replaced: a replaced byte could change a strain id."""
    try:
        with opener() as fh:
            first, rest = 1, b""
            # a chunk at a time (an InputStream: lines already bounded); blank lines are
            # dropped before any per-line work, so a file of newlines costs a split per chunk
            while chunk := fh.read(_CHUNK):
                chunk, rest = rest + chunk, b""
                if not chunk.strip():  # nothing but blank lines: counted at C speed
                    first += chunk.count(b"\n")
                    rest = chunk[chunk.rfind(b"\n") + 1 :]
                    continue
                lines = chunk.split(b"\n")
                rest = lines.pop()
                for lineno, raw in [(first + i, r) for i, r in enumerate(lines) if r.strip()]:
                    text = decode_utf8(label, raw, lineno).rstrip("\r")
                    if text.strip() and not text.lstrip().startswith("#"):
                        yield lineno, text
                first += len(lines)
            if rest.strip():
                text = decode_utf8(label, rest, first).rstrip("\r")
                if text.strip() and not text.lstrip().startswith("#"):
                    yield first, text
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(label, None, f"cannot read: {exc}") from exc


def first_line(path: Path) -> str:
    """The header line of ``path`` (of its first member, for a zip)."""
    return next((t for _, t in data_lines(*text_sources(path)[0])), "")


@dataclass
class Header:
    """A header line and the column of each role it has; ``need`` names the missing ones."""

    label: str
    line: int
    names: list[str]
    index: dict[str, int]

    @classmethod
    def parse(cls, label: str, line: int, text: str, roles: Roles) -> Header:
        names = text.split("\t")
        normed = [norm_header(n) for n in names]
        index: dict[str, int] = {}
        for role, accepted in roles.items():
            for name in accepted:  # first accepted spelling present wins
                if name in normed:
                    index[role] = normed.index(name)
                    break
        return cls(label, line, names, index)

    def need(self, *roles: str) -> None:
        missing = [r for r in roles if r not in self.index]
        if missing:
            raise InputError(
                self.label,
                self.line,
                f"missing column(s) for {', '.join(missing)} (columns: {self.names})",
            )


def cell_value(text: str, label: str, lineno: int, what: str) -> float | None:
    """A number, or None for an empty / NaN cell; anything else non-numeric is an error."""
    text = text.strip()
    if text.casefold() in _MISSING:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InputError(label, lineno, f"{what} is not a number: {text!r}") from None
    if math.isinf(value):
        raise InputError(label, lineno, f"{what} is not finite: {text!r}")
    return None if math.isnan(value) else value


def strain_orfs(strain: str) -> tuple[tuple[str, ...], str] | None:
    """``('YAL015C', 'YDL227C'), 'tm461'`` from ``YAL015C+YDL227C_tm461``; None if no ORF."""
    prefix, _, suffix = strain.strip().partition("_")
    if _STRAIN_GENES.fullmatch(prefix) is None:
        return None
    return tuple(prefix.split("+")), suffix


def allele_type(suffix: str, allele: str, arraytype: str = "") -> str:
    """One strain's allele type (``ALLELE_TYPES``) by the rules of the module docstring."""
    s, a = suffix.casefold(), allele.strip()
    if s.startswith("damp") or "damp" in a.casefold():
        return "damp"
    if s.startswith(("tsq", "tsa")):
        return "ts"
    if s.startswith(("sn", "dma")) or a.endswith(("Δ", "delta")):
        return "deletion"
    t = arraytype.strip().upper()
    if t.startswith("TSA"):
        return "ts"
    if t.startswith("DMA"):
        return "deletion"
    if _TS_NAME.search(a):
        return "ts"
    return "other"


def strain_alleles(
    strain: str, allele: str, arraytype: str, label: str, lineno: int
) -> tuple[tuple[str, str], ...]:
    """((ORF, allele type), ...) of one strain id; an id without an ORF is an input error."""
    parsed = _parse_strain(strain, allele, arraytype)
    if parsed is None:
        raise InputError(
            label,
            lineno,
            f"strain id {strain!r} names no systematic ORF "
            f"(expected {ORF_PATTERN}[+...] before '_')",
        )
    return parsed


@functools.lru_cache(maxsize=1 << 16)
def _parse_strain(strain: str, allele: str, arraytype: str) -> tuple[tuple[str, str], ...] | None:
    # cached: a screen names ~10^4 strains across ~10^7 rows
    parsed = strain_orfs(strain)
    if parsed is None:
        return None
    orfs, suffix = parsed
    names = allele.split("+")
    if len(names) != len(orfs):
        names = [allele] * len(orfs)
    return tuple((g, allele_type(suffix, n, arraytype)) for g, n in zip(orfs, names, strict=True))


def row_alleles(
    cells: list[str], ix: dict[str, int], arraytype: str, label: str, lineno: int
) -> list[tuple[str, str]]:
    """[(ORF, allele type)] of a row's query strain, then its array strain."""
    query = strain_alleles(cells[ix["query"]], cells[ix["query_allele"]], "", label, lineno)
    array = strain_alleles(cells[ix["array"]], cells[ix["array_allele"]], arraytype, label, lineno)
    return [*query, *array]


def check_allele_filter(allele_types: Iterable[str] | None) -> set[str] | None:
    """The requested allele types, validated up front so a typo is not an empty dataset."""
    if allele_types is None:
        return None
    wanted = {a.strip().casefold() for a in allele_types}
    bad = sorted(wanted - set(ALLELE_TYPES))
    if bad:
        raise ConfigError(f"unknown allele type(s) {bad}; choose from {list(ALLELE_TYPES)}")
    return wanted


@dataclass
class ScreenStats:
    """What a screen reader did with the rows of a file; pass one as ``stats=`` to fill it.

    ``kept`` maps each filter that was set, in the order applied, to the rows left after it;
    ``skipped`` counts rows that passed the filters but are no measurement (no value, HO only,
    one gene twice); ``measurements`` the rows merged into the ``genotypes`` distinct gene sets.
    """

    rows: int = 0
    kept: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    measurements: int = 0
    genotypes: int = 0
    conflicts: str | None = None  # the warning about merged measurements that disagree, if any
    cached: bool = False  # filled from the parsed-screen cache rather than by reading

    def to_dict(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "kept": dict(self.kept),
            "skipped": dict(self.skipped),
            "measurements": self.measurements,
            "genotypes": self.genotypes,
            "conflicts": self.conflicts,
        }

    def update(self, data: dict) -> None:
        """Take the counts of ``to_dict`` (a cache entry's)."""
        self.rows, self.measurements = int(data["rows"]), int(data["measurements"])
        self.genotypes = int(data["genotypes"])
        self.kept = {str(k): int(v) for k, v in data["kept"].items()}
        self.skipped = {str(k): int(v) for k, v in data["skipped"].items()}
        self.conflicts = None if data.get("conflicts") is None else str(data["conflicts"])


def skip_warning(label: str, skipped: dict[str, int], stacklevel: int = 3) -> None:
    """The reader's one warning about rows that could not be measurements."""
    if skipped:
        detail = ", ".join(f"{n} {why}" for why, n in sorted(skipped.items()))
        warnings.warn(f"{label}: skipped {detail}", stacklevel=stacklevel + 1)


class ScreenCollector(MeasurementLog):
    """The measurement log plus each measurement's allele types, annotations and the counts of
    rows read, dropped per filter and skipped."""

    def __init__(self, path: Path, duplicates: Duplicates, meta_keys: tuple[str, ...]) -> None:
        super().__init__(path, duplicates, meta_keys)
        self.read = 0
        self.skipped: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()  # rows removed, per filter

    def add_measurement(
        self, alleles: list[tuple[str, str]], value: float, lineno: int, **meta: str
    ) -> None:
        types = [TYPE_CODE[t] for _, t in alleles]
        self.add([g for g, _ in alleles], [value], lineno, types, **meta)

    def result(
        self,
        phenotype: str,
        label: str,
        filters: str,
        stats: ScreenStats | None,
        active: Iterable[str],
    ) -> GenotypeDataset:
        """The merged dataset; ``stats`` (if given) filled with the counts (``active``: the
        filters set, in order), also when no genotype is left."""
        skip_warning(label, self.skipped)
        self.path = Path(label)  # the source named in the dataset, not the last zip member
        ds = None if self.measurements == 0 else self.finish([phenotype], label)
        if stats is not None:
            left = self.read
            stats.rows, stats.kept = self.read, {}
            for name in active:
                left -= self.dropped[name]
                stats.kept[name] = left
            stats.skipped = dict(sorted(self.skipped.items()))
            stats.measurements = 0 if ds is None else int(ds.counts.sum())
            stats.genotypes = 0 if ds is None else len(ds)
            stats.conflicts, stats.cached = self.conflicts, False
        if ds is None:
            raise InputError(
                label, None, f"no genotypes left ({self.read} rows read; filters: {filters})"
            )
        return ds
