"""Read a Gene Ontology release (OBO 1.2/1.4, plain or gzip) through pronto.

Only what DCell needs is kept: live terms with name and namespace, the chosen relation edges, and
the maps that rescue annotations to retired ids (``alt_id`` -> live term, obsolete ->
``replaced_by`` or ``consider``).
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pronto

from dcellx.errors import InputError
from dcellx.fileio import read_maybe_gzip

NAMESPACES = ("biological_process", "molecular_function", "cellular_component")
NAMESPACE_ROOTS = {
    "biological_process": "GO:0008150",
    "molecular_function": "GO:0003674",
    "cellular_component": "GO:0005575",
}


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


def _open_bytes(path: Path) -> io.BytesIO:
    """Read the whole file (decompressing gzip) so pronto gets one in-memory stream."""
    return io.BytesIO(read_maybe_gzip(path))


def _line_of(path: Path, needle: str) -> int | None:
    """1-based line of the first ``id: <needle>`` in the file, to point errors at a stanza."""
    pattern = re.compile(rb"^id:\s*" + re.escape(needle.encode()) + rb"\s*$", re.M)
    data = _open_bytes(path).getvalue()
    m = pattern.search(data)
    return None if m is None else data.count(b"\n", 0, m.start()) + 1


def read_obo(path: str | Path) -> GoRelease:
    """Parse an OBO file with pronto; malformed input raises ``InputError`` with file and line."""
    path = Path(path)
    stream = _open_bytes(path)
    try:
        with warnings.catch_warnings():
            # pronto warns about e.g. odd xref syntax in real GO releases; not ours to fix.
            warnings.simplefilter("ignore")
            onto = pronto.Ontology(stream)
    except SyntaxError as exc:
        line = exc.lineno if isinstance(exc.lineno, int) else None
        raise InputError(path, line, f"malformed OBO: {exc.msg}") from exc
    except (ValueError, KeyError) as exc:
        raise InputError(path, None, f"malformed OBO: {exc}") from exc

    names: dict[str, str] = {}
    namespaces: dict[str, str] = {}
    parents: dict[str, list[tuple[str, str]]] = {}
    alt_ids: dict[str, str] = {}
    obsolete: set[str] = set()
    replaced_by: dict[str, list[str]] = {}
    consider: dict[str, list[str]] = {}
    for term in onto.terms():
        tid = term.id
        if term.obsolete:
            obsolete.add(tid)
            # raw ids: a consider/replaced_by target may be absent from the release itself
            data = term._data()
            replaced_by[tid] = sorted(data.replaced_by)
            consider[tid] = sorted(data.consider)
            continue
        names[tid] = term.name or ""
        namespaces[tid] = term.namespace or ""
        for alt in term.alternate_ids:
            alt_ids[alt] = tid
        edges = [(p.id, "is_a") for p in term.superclasses(distance=1, with_self=False)]
        # The raw relationship map avoids pronto's lookup of [Typedef] stanzas, which small
        # hand-written OBO files often omit.
        for rel, targets in term._data().relationships.items():
            edges.extend((t, rel) for t in sorted(targets))
        parents[tid] = edges
    if not names:
        raise InputError(path, None, "no live [Term] stanza found")
    return GoRelease(
        str(path), names, namespaces, parents, alt_ids, obsolete, replaced_by, consider
    )
