"""pronto's reading of an OBO file, kept as the oracle that ``dcellx.ontology.obo`` must equal.

pronto (fastobo) is strict: a release with one malformed line it does not need (``xref: EC
2.7.1.190``) does not load, and it is several times slower than our line reader
(``benchmarks/bench_obo.py``). The tests assert that both give the same ``GoRelease`` on the real
2019 and 2024 files.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import pronto

from dcellx.errors import InputError
from dcellx.fileio import read_maybe_gzip
from dcellx.ontology.obo import GoRelease


def _open_bytes(path: Path) -> io.BytesIO:
    return io.BytesIO(read_maybe_gzip(path))


def read_obo_pronto(path: str | Path) -> GoRelease:
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
        str(path),
        names,
        namespaces,
        parents,
        alt_ids,
        obsolete,
        replaced_by,
        consider,
        parser="pronto",
    )
