"""Read a Gene Ontology release (OBO 1.2/1.4, plain or gzip): dcellx's tolerant line reader.

Only what DCell needs is kept: live terms with name and namespace, their parent edges (``is_a``
and every ``relationship``), and the maps that rescue annotations to retired ids (``alt_id`` ->
live term, obsolete -> ``replaced_by`` or ``consider``).

Why our own reader: published GO releases contain lines a strict OBO parser rejects although
DCell never reads them (``xref: EC 2.7.1.190`` in go-basic 2021-12-15, a ``def:`` dbxref list
``[GOC:pz, Rhea: 36507]`` in 2021-06-16). Such a line in a tag dcellx does not use is *skipped and
counted* (``GoRelease.skipped``, first positions in ``skipped_at``); a defect in what dcellx uses
(a ``[Term]`` without an id, an ``is_a``/``part_of`` to an id defined nowhere, an ``is_a`` cycle, a
malformed ``is_a``) is one ``InputError`` naming ``file:line``. The reader gives the same release as
pronto on the real 2019 and 2024 files (``tests/ontology/test_obo.py``) in a fraction of its time
(``benchmarks/bench_obo.py``); ``tests/ontology/obo_pronto.py`` keeps pronto's reading as the
oracle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from dcellx.errors import InputError
from dcellx.fileio import read_maybe_gzip

NAMESPACE_ROOTS = {
    "biological_process": "GO:0008150",
    "molecular_function": "GO:0003674",
    "cellular_component": "GO:0005575",
}
# Relations whose targets must be defined in the file (the ones DCell builds edges from).
CHECKED_RELATIONS = ("is_a", "part_of")
SKIPPED_POSITIONS_KEPT = 5

_ID = re.compile(r"^[^\s:!{}]+:[^\s!{}]+$")
_XREF = re.compile(r'^[^\s:,\[\]"]+:(?:[^\s,\]"\\]|\\.)+(\s+"(?:[^"\\]|\\.)*")?$')
_QUOTED = re.compile(r'^"((?:[^"\\]|\\.)*)"\s*(.*)$')
_SYNONYM_SCOPES = frozenset(("EXACT", "BROAD", "NARROW", "RELATED"))
_COMMENT = re.compile(r"(?:^|\s)!")
_ESCAPE = re.compile(r"\\(.)")
_ESCAPES = {"n": "\n", "t": "\t"}


@dataclass
class GoRelease:
    """A parsed OBO file: live terms, their parent edges, and the retired-id maps."""

    source: str
    names: dict[str, str]
    namespaces: dict[str, str]
    # child -> list of (parent, relation); relation is "is_a" or an OBO relationship id.
    parents: dict[str, list[tuple[str, str]]]
    alt_ids: dict[str, str] = field(default_factory=dict)
    obsolete: set[str] = field(default_factory=set)
    replaced_by: dict[str, list[str]] = field(default_factory=dict)
    consider: dict[str, list[str]] = field(default_factory=dict)
    # where each term's stanza starts (1-based), for errors that name a term
    lines: dict[str, int] = field(default_factory=dict)
    data_version: str = ""
    parser: str = "dcellx"
    skipped: int = 0
    skipped_at: list[str] = field(default_factory=list)

    def edge_counts(self) -> dict[str, int]:
        """Parent edges of live terms per relation (``is_a``, ``part_of``, ``regulates``, ...)."""
        out: dict[str, int] = {}
        for edges in self.parents.values():
            for _, rel in edges:
                out[rel] = out.get(rel, 0) + 1
        return dict(sorted(out.items()))

    def record(self) -> dict[str, object]:
        """The load record's OBO part (``dcellx ontology stats`` shows it)."""
        return {
            "parser": self.parser,
            "data_version": self.data_version,
            "live_terms": len(self.names),
            "obsolete_terms": len(self.obsolete),
            "alt_ids": len(self.alt_ids),
            "edges": self.edge_counts(),
            "skipped_lines": self.skipped,
            "skipped_at": list(self.skipped_at),
        }


def _line_of(path: Path, needle: str) -> int | None:
    """1-based line of the first ``id: <needle>`` in the file, to point errors at a stanza."""
    pattern = re.compile(rb"^id:\s*" + re.escape(needle.encode()) + rb"\s*$", re.M)
    data = read_maybe_gzip(path)
    m = pattern.search(data)
    return None if m is None else data.count(b"\n", 0, m.start()) + 1


def _decode(path: Path, raw: bytes) -> str:
    """UTF-8 or one error naming the line: a replaced byte could silently change a term name."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InputError(path, line, f"not UTF-8 (byte 0x{raw[exc.start]:02x})") from exc


def _strip_value(value: str) -> str:
    """Drop a trailing ``! comment`` (an unescaped ``!`` after any whitespace, tab included) and
    ``{qualifiers}`` from a tag value."""
    if "!" in value:
        m = _COMMENT.search(value)
        if m is not None:
            value = value[: m.start()]
    value = value.strip()
    if value.endswith("}") and not value.endswith("\\}") and "{" in value:
        i = value.rfind("{")
        while i > 0 and value[i - 1] == "\\":  # an escaped brace is part of the value
            i = value.rfind("{", 0, i - 1)
        if i >= 0:
            value = value[:i].rstrip()
    return value


def _split_xrefs(body: str) -> list[str]:
    """Split a dbxref list on commas that are neither escaped nor inside a quoted description."""
    out, cur, quoted, i = [], [], False, 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            cur.append(body[i : i + 2])
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    out.append("".join(cur))
    return out


def _xref_list_ok(text: str) -> bool:
    """``[X:1, Y:2 "desc"]`` (possibly empty): each entry ``PREFIX:LOCAL``, no space inside."""
    text = text.strip()
    if not (text.startswith("[") and text.endswith("]")):
        return False
    body = text[1:-1].strip()
    return not body or all(_XREF.match(x.strip()) for x in _split_xrefs(body))


def _unused_line_ok(tag: str, value: str) -> bool:
    """A light syntax check of tags dcellx does not use; a failing line is skipped, not fatal."""
    if tag == "def":
        m = _QUOTED.match(value)
        return m is not None and _xref_list_ok(_strip_value(m.group(2)))
    if tag == "synonym":
        m = _QUOTED.match(value)
        if m is None:
            return False
        rest = _strip_value(m.group(2))
        scope, _, tail = rest.partition(" ")
        if scope not in _SYNONYM_SCOPES:
            return False
        tail = tail.strip()
        if not tail.startswith("["):
            _, _, tail = tail.partition(" ")
        return _xref_list_ok(tail)
    if tag == "xref":
        return _XREF.match(_strip_value(value)) is not None
    return True


def _unescape(value: str) -> str:
    """OBO escapes in one left-to-right pass, as pronto reads them: ``\\n`` newline, ``\\t`` tab,
    and ``\\X`` -> ``X`` otherwise (``\\!``, ``\\"``, ``\\\\``, ``\\{``, ``\\:``, ...)."""
    return _ESCAPE.sub(_unescape_one, value) if "\\" in value else value


def _unescape_one(m: re.Match[str]) -> str:
    return _ESCAPES.get(m.group(1), m.group(1))


class _Stanza:
    __slots__ = (
        "kind",
        "line",
        "id",
        "name",
        "namespace",
        "is_a",
        "rels",
        "obsolete",
        "replaced",
        "consider",
        "alt",
    )

    def __init__(self, kind: str, line: int) -> None:
        self.kind, self.line = kind, line
        self.id: str | None = None
        self.name = ""
        self.namespace = ""
        self.is_a: list[tuple[str, int]] = []
        self.rels: list[tuple[str, str, int]] = []
        self.obsolete = False
        self.replaced: list[str] = []
        self.consider: list[str] = []
        self.alt: list[str] = []


def _parse(path: Path, text: str) -> tuple[list[_Stanza], str, list[int]]:
    """Stanzas of the file, its data-version, and the lines skipped as unreadable."""
    stanzas: list[_Stanza] = []
    cur: _Stanza | None = None
    data_version = ""
    skipped: list[int] = []
    for n, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line[0] == "!":
            continue
        if line[0] == "[":
            if not line.endswith("]"):
                raise InputError(path, n, f"malformed stanza header {line!r}")
            cur = _Stanza(line[1:-1], n)
            stanzas.append(cur)
            continue
        tag, sep, value = line.partition(":")
        if not sep or not tag or " " in tag:
            # not even "tag: value": no way to tell whether dcellx needed it
            raise InputError(path, n, f"malformed OBO line {line[:60]!r} (expected 'tag: value')")
        value = value.strip()
        if cur is None:
            if tag == "data-version":
                data_version = value
            continue
        if cur.kind != "Term":
            if tag == "id":
                cur.id = _strip_value(value)
            continue
        if tag == "id":
            v = _strip_value(value)
            if not _ID.match(v):
                raise InputError(path, n, f"malformed term id {v!r}")
            if cur.id is not None:
                raise InputError(path, n, f"second id in the [Term] stanza of {cur.id}")
            cur.id = v
        elif tag == "name":
            cur.name = _unescape(_strip_value(value))
        elif tag == "namespace":
            cur.namespace = _strip_value(value)
        elif tag == "is_a":
            v = _strip_value(value)
            if not _ID.match(v):
                raise InputError(path, n, f"malformed is_a target {v!r}")
            cur.is_a.append((v, n))
        elif tag == "relationship":
            parts = _strip_value(value).split()
            if len(parts) != 2 or not _ID.match(parts[1]):
                if parts and parts[0] in CHECKED_RELATIONS:
                    raise InputError(path, n, f"malformed relationship {value!r}")
                skipped.append(n)
                continue
            cur.rels.append((parts[0], parts[1], n))
        elif tag == "is_obsolete":
            cur.obsolete = _strip_value(value) == "true"
        elif tag == "replaced_by":
            cur.replaced.append(_strip_value(value))
        elif tag == "consider":
            cur.consider.append(_strip_value(value))
        elif tag == "alt_id":
            cur.alt.append(_strip_value(value))
        elif not _unused_line_ok(tag, value):
            skipped.append(n)
    return stanzas, data_version, skipped


def read_obo(path: str | Path) -> GoRelease:
    """Parse an OBO file; see the module docstring for what is skipped and what is an error."""
    path = Path(path)
    stanzas, data_version, skipped = _parse(path, _decode(path, read_maybe_gzip(path)))
    terms: dict[str, _Stanza] = {}
    for st in stanzas:
        if st.kind != "Term":
            continue
        if st.id is None:
            raise InputError(path, st.line, "[Term] stanza without an id")
        if st.id in terms:
            raise InputError(path, st.line, f"term {st.id} defined twice")
        terms[st.id] = st
    if not any(not st.obsolete for st in terms.values()):
        raise InputError(path, None, "no live [Term] stanza found")

    release = GoRelease(str(path), {}, {}, {}, data_version=data_version, skipped=len(skipped))
    release.skipped_at = [f"{path}:{n}" for n in skipped[:SKIPPED_POSITIONS_KEPT]]
    for tid, st in terms.items():
        release.lines[tid] = st.line
        for target, n in st.is_a:
            if target not in terms:
                raise InputError(path, n, f"is_a of {tid} names {target}, defined nowhere")
        for rel, target, n in st.rels:
            if rel in CHECKED_RELATIONS and target not in terms:
                raise InputError(path, n, f"{rel} of {tid} names {target}, defined nowhere")
        if st.obsolete:
            release.obsolete.add(tid)
            release.replaced_by[tid] = sorted(set(st.replaced))
            release.consider[tid] = sorted(set(st.consider))
            continue
        release.names[tid] = st.name
        release.namespaces[tid] = st.namespace
        for alt in st.alt:
            release.alt_ids[alt] = tid
        edges = [(p, "is_a") for p in dict.fromkeys(t for t, _ in st.is_a)]
        edges.extend(dict.fromkeys((t, r) for r, t, _ in st.rels))
        release.parents[tid] = edges
    _check_is_a_acyclic(path, release)
    return release


def _check_is_a_acyclic(path: Path, release: GoRelease) -> None:
    """An ``is_a`` cycle among live terms is an error naming one term's stanza."""
    children: dict[str, list[str]] = {t: [] for t in release.parents}
    pending = dict.fromkeys(release.parents, 0)
    for t, edges in release.parents.items():
        for p, rel in edges:
            if rel == "is_a" and p in children:
                children[p].append(t)
                pending[t] += 1
    ready = [t for t, k in pending.items() if k == 0]
    seen = 0
    while ready:
        t = ready.pop()
        seen += 1
        for c in children[t]:
            pending[c] -= 1
            if pending[c] == 0:
                ready.append(c)
    if seen != len(pending):
        # Stuck terms lie on a cycle or below one; walking up stuck parents must revisit a term,
        # and the first one revisited lies on the cycle.
        stuck = {t for t, k in pending.items() if k > 0}
        walk: list[str] = [min(stuck)]
        while True:
            up = min(p for p, rel in release.parents[walk[-1]] if rel == "is_a" and p in stuck)
            if up in walk:
                cycle = walk[walk.index(up) :]
                break
            walk.append(up)
        t = min(cycle)
        ordered = " -> ".join(cycle[cycle.index(t) :] + cycle[: cycle.index(t)] + [t])
        raise InputError(
            path, release.lines.get(t), f"cycle in the term hierarchy (is_a): {ordered}"
        )
