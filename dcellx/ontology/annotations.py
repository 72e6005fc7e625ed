"""Gene-to-term annotation readers: GAF 2.x (plain or gzip) and a gene/term TSV.

Both give an ``AnnotationTable``: one row per annotation, columns as parallel lists. The table
keeps the source line of each row so a later filter or check can point at the file.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dcellx.errors import InputError
from dcellx.fileio import read_maybe_gzip

# GO evidence codes (geneontology.org/docs/guide-go-evidence-codes), including retired ones that
# occur in older files. Anything else in column 7 is an error: a typo must not pass silently.
EVIDENCE_CODES = frozenset(
    "EXP IDA IPI IMP IGI IEP HTP HDA HMP HGI HEP IBA IBD IKR IKD IRD ISS ISO ISA ISM IGC RCA "
    "TAS NAS IC ND IEA NR IMR".split()
)
EXPERIMENTAL = frozenset("EXP IDA IPI IMP IGI IEP HTP HDA HMP HGI HEP".split())
ASPECTS = {"P": "biological_process", "F": "molecular_function", "C": "cellular_component"}


@dataclass
class AnnotationTable:
    """Annotations as parallel columns. ``evidence`` is "" where the source gives no exact code."""

    source: str
    genes: list[str] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    evidence_class: list[str] = field(default_factory=list)
    dates: list[str] = field(default_factory=list)  # YYYYMMDD or ""
    lines: list[int] = field(default_factory=list)
    has_evidence_codes: bool = True
    has_dates: bool = True

    def __len__(self) -> int:
        return len(self.genes)

    def append(self, gene: str, term: str, ev: str, ev_class: str, date: str, line: int) -> None:
        self.genes.append(gene)
        self.terms.append(term)
        self.evidence.append(ev)
        self.evidence_class.append(ev_class)
        self.dates.append(date)
        self.lines.append(line)

    def take(self, keep: list[bool]) -> AnnotationTable:
        """A new table with the rows where ``keep`` is true (filters are pure: input untouched)."""
        out = AnnotationTable(
            self.source, has_evidence_codes=self.has_evidence_codes, has_dates=self.has_dates
        )
        for i, k in enumerate(keep):
            if k:
                out.append(
                    self.genes[i],
                    self.terms[i],
                    self.evidence[i],
                    self.evidence_class[i],
                    self.dates[i],
                    self.lines[i],
                )
        return out

    def pairs(self) -> set[tuple[str, str]]:
        """Distinct (gene, term) pairs: the unit DCell's incidence is built from."""
        return set(zip(self.genes, self.terms, strict=True))


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    raw = read_maybe_gzip(path)
    for n, line in enumerate(io.StringIO(raw.decode("utf-8", errors="replace")), start=1):
        yield n, line.rstrip("\n").rstrip("\r")


def read_gaf(path: str | Path) -> AnnotationTable:
    """Read GAF 2.x: 15 required + 2 optional tab-separated columns; NOT-qualified rows dropped.

    Gene key: the first synonym in column 11 (SGD puts the systematic ORF name there), falling
    back to column 3 (the symbol) when column 11 is empty.
    """
    path = Path(path)
    table = AnnotationTable(str(path))
    for n, line in _lines(path):
        if not line or line.startswith("!"):
            continue
        cols = line.split("\t")
        if not 15 <= len(cols) <= 17:
            raise InputError(path, n, f"GAF row has {len(cols)} columns, expected 15 to 17")
        qualifier, term, evidence = cols[3], cols[4].strip(), cols[6].strip()
        if evidence not in EVIDENCE_CODES:
            raise InputError(path, n, f"unknown evidence code {evidence!r}")
        if not term.startswith("GO:"):
            raise InputError(path, n, f"column 5 is not a GO id: {term!r}")
        if "NOT" in qualifier.split("|"):
            continue
        synonyms = cols[10].split("|")
        gene = synonyms[0].strip() or cols[2].strip()
        if not gene:
            raise InputError(path, n, "no gene name in column 11 or column 3")
        date = cols[13].strip()
        if date and not (len(date) == 8 and date.isdigit()):
            raise InputError(path, n, f"column 14 is not a YYYYMMDD date: {date!r}")
        ev_class = "experimental" if evidence in EXPERIMENTAL else "other"
        table.append(gene, term, evidence, ev_class, date, n)
    return table


def read_gene_term_tsv(path: str | Path) -> AnnotationTable:
    """Read a TSV with columns ``gene``, ``term`` and optional ``evidence``, ``evidence_class``,
    ``date`` (YYYY-MM-DD or YYYYMMDD). Without ``evidence`` the table records that exact codes are
    unknown, so an evidence-code filter is reported as not applicable rather than silently passed.
    """
    path = Path(path)
    it = _lines(path)
    header: list[str] | None = None
    for n, line in it:
        if line and not line.startswith("#"):
            header = [h.strip() for h in line.split("\t")]
            header_line = n
            break
    if header is None:
        raise InputError(path, None, "empty annotation file")
    for need in ("gene", "term"):
        if need not in header:
            raise InputError(path, header_line, f"missing column {need!r} in header")
    idx = {h: i for i, h in enumerate(header)}
    table = AnnotationTable(
        str(path), has_evidence_codes="evidence" in idx, has_dates="date" in idx
    )
    for n, line in it:
        if not line or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) != len(header):
            raise InputError(path, n, f"row has {len(cols)} columns, header has {len(header)}")
        gene, term = cols[idx["gene"]].strip(), cols[idx["term"]].strip()
        if not gene or not term.startswith("GO:"):
            raise InputError(path, n, f"bad gene/term pair {gene!r} {term!r}")
        ev = cols[idx["evidence"]].strip() if "evidence" in idx else ""
        if ev and ev not in EVIDENCE_CODES:
            raise InputError(path, n, f"unknown evidence code {ev!r}")
        if "evidence_class" in idx:
            ev_class = cols[idx["evidence_class"]].strip()
        else:
            ev_class = "experimental" if ev in EXPERIMENTAL else ("other" if ev else "")
        date = cols[idx["date"]].strip().replace("-", "") if "date" in idx else ""
        if date and not (len(date) == 8 and date.isdigit()):
            raise InputError(path, n, f"bad date {date!r}, expected YYYY-MM-DD")
        table.append(gene, term, ev, ev_class, date, n)
    return table


def read_annotations(path: str | Path, fmt: str = "auto") -> AnnotationTable:
    """Dispatch on ``fmt`` (``gaf``, ``tsv``) or sniff: a ``!gaf-version`` header means GAF."""
    path = Path(path)
    if fmt == "auto":
        first = next((line for _, line in _lines(path) if line), "")
        fmt = "gaf" if first.startswith("!gaf") else "tsv"
    if fmt == "gaf":
        return read_gaf(path)
    if fmt == "tsv":
        return read_gene_term_tsv(path)
    raise InputError(path, None, f"unknown annotation format {fmt!r} (gaf or tsv)")
