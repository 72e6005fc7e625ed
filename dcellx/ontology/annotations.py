"""Gene-to-term annotation readers: GAF 2.x (plain or gzip) and a gene/term TSV.

Both give an ``AnnotationTable``: one row per annotation, columns as parallel lists. The table
keeps the source line of each row so a later filter or check can point at the file.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dcellx.errors import InputError
from dcellx.fileio import read_maybe_gzip
from dcellx.ontology.idmap import GeneIdMap, is_systematic_name

# GO evidence codes (geneontology.org/docs/guide-go-evidence-codes), including retired ones that
# occur in older files. Anything else in column 7 is an error: a typo must not pass silently.
EVIDENCE_CODES = frozenset(
    "EXP IDA IPI IMP IGI IEP HTP HDA HMP HGI HEP IBA IBD IKR IKD IRD ISS ISO ISA ISM IGC RCA "
    "TAS NAS IC ND IEA NR IMR".split()
)
EXPERIMENTAL = frozenset("EXP IDA IPI IMP IGI IEP HTP HDA HMP HGI HEP".split())


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
    record: dict = field(default_factory=dict)  # how the file was read (rows, routes, drops)

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
            self.source,
            has_evidence_codes=self.has_evidence_codes,
            has_dates=self.has_dates,
            record=dict(self.record),
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
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a replaced byte would invent a gene or term name: refuse, naming the line
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InputError(path, line, f"not UTF-8 (byte 0x{raw[exc.start]:02x})") from exc
    for n, line in enumerate(io.StringIO(text), start=1):
        yield n, line.rstrip("\n").rstrip("\r")


# GAF column 12 types that are genes or their products; anything else (``protein_complex``,
# ComplexPortal ids) is not a gene and is counted, not read.
GENE_TYPES = frozenset(
    "gene protein ncRNA gene_product transcript RNA mRNA tRNA rRNA snRNA snoRNA lnc_RNA "
    "miRNA ribozyme SRP_RNA RNase_P_RNA RNase_MRP_RNA telomerase_RNA antisense_RNA".split()
)


def _resolve(
    cols: list[str], id_map: GeneIdMap | None, universe: set[str] | None
) -> tuple[str | None, str]:
    """The row's systematic ORF and the route that found it, or ``(None, reason)``.

    Routes in order: the SGD ID of column 2 through the id map; the one column-11 alias that is
    a universe gene or a systematic name; the column-3 symbol through the id map. Two or more
    distinct candidate aliases are ``ambiguous`` (``YAR042W|YAR044W``): left out, not guessed.
    """
    if id_map is not None:
        orf = id_map.by_sgd_id.get(cols[1].strip())
        if orf is not None:
            return orf, "sgd_id"
    aliases = [a.strip() for a in cols[10].split("|")]
    found = list(
        dict.fromkeys(
            a
            for a in aliases
            if a and ((universe is not None and a in universe) or is_systematic_name(a))
        )
    )
    if len(found) == 1:
        return found[0], "alias"
    if len(found) > 1:
        return None, "ambiguous"
    if id_map is not None:
        orf = id_map.symbol_to_orf(cols[2].strip())
        if orf is not None:
            return orf, "symbol"
    return None, "unresolved"


def read_gaf(
    path: str | Path, id_map: GeneIdMap | None = None, universe: set[str] | None = None
) -> AnnotationTable:
    """Read GAF 2.1 or 2.2 (15 required + 2 optional tab-separated columns).

    The gene is the systematic ORF name, resolved by rule (``_resolve``): never "the first
    alias", which in today's SGD GAF is a standard name in most rows. ``NOT`` rows (column 4,
    GAF 2.1 qualifier or 2.2 ``NOT|relation``) are dropped and counted; the 2.2 relation is kept
    per row. ``table.record`` holds rows read, rows per route and rows dropped per reason.
    """
    path = Path(path)
    table = AnnotationTable(str(path))
    routes: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    relations: Counter[str] = Counter()
    first_drop: dict[str, int] = {}
    rows = 0
    version = ""
    for n, line in _lines(path):
        if not line or line.startswith("!"):
            if line.startswith("!gaf-version:"):
                version = line.split(":", 1)[1].strip()
            continue
        cols = line.split("\t")
        if not 15 <= len(cols) <= 17:
            raise InputError(path, n, f"GAF row has {len(cols)} columns, expected 15 to 17")
        rows += 1
        qualifier, term, evidence = cols[3].strip(), cols[4].strip(), cols[6].strip()
        if evidence not in EVIDENCE_CODES:
            raise InputError(path, n, f"unknown evidence code {evidence!r}")
        if not term.startswith("GO:"):
            raise InputError(path, n, f"column 5 is not a GO id: {term!r}")
        date = cols[13].strip()
        if date and not (len(date) == 8 and date.isdigit()):
            raise InputError(path, n, f"column 14 is not a YYYYMMDD date: {date!r}")
        parts = qualifier.split("|") if qualifier else []
        reason = ""
        if "NOT" in parts:
            reason = "NOT"
        elif cols[11].strip() not in GENE_TYPES:
            reason = f"not a gene ({cols[11].strip() or 'no type'})"
        if not reason:
            gene, how = _resolve(cols, id_map, universe)
            if gene is None:
                reason = how
        if reason:
            dropped[reason] += 1
            first_drop.setdefault(reason, n)
            continue
        routes[how] += 1
        relation = next((p for p in parts if p != "NOT"), "")
        relations[relation or "(none)"] += 1
        ev_class = "experimental" if evidence in EXPERIMENTAL else "other"
        table.append(gene, term, evidence, ev_class, date, n)
    table.record = {
        "format": f"GAF {version}" if version else "GAF",
        "rows_read": rows,
        "rows_kept": len(table),
        "resolved": {k: routes[k] for k in ("sgd_id", "alias", "symbol")},
        "dropped": dict(sorted(dropped.items())),
        "first_dropped_at": {k: f"{path}:{v}" for k, v in sorted(first_drop.items())},
        "relations": dict(sorted(relations.items())),
        "id_map": None if id_map is None else id_map.source,
    }
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
    table.record = {"format": "gene/term TSV", "rows_read": len(table), "rows_kept": len(table)}
    return table


def read_annotations(
    path: str | Path,
    fmt: str = "auto",
    id_map: GeneIdMap | None = None,
    universe: set[str] | None = None,
) -> AnnotationTable:
    """Dispatch on ``fmt`` (``gaf``, ``tsv``) or sniff: a ``!gaf-version`` header means GAF.
    ``id_map`` and ``universe`` help resolve GAF rows to ORFs (see ``read_gaf``)."""
    path = Path(path)
    if fmt == "auto":
        first = next((line for _, line in _lines(path) if line), "")
        fmt = "gaf" if first.startswith("!gaf") else "tsv"
    if fmt == "gaf":
        return read_gaf(path, id_map, universe)
    if fmt == "tsv":
        return read_gene_term_tsv(path)
    raise InputError(path, None, f"unknown annotation format {fmt!r} (gaf or tsv)")
