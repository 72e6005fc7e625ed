"""``OntologyGraph``: the DAG the filters work on (terms, parent edges, annotation rows).

Annotations stay as rows ``(gene, term, evidence, date)`` so that evidence and date filters can run
at any point of the configurable filter order; removing a term hands its rows to its parents.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from dcellx.errors import InputError
from dcellx.ontology.annotations import AnnotationTable
from dcellx.ontology.obo import NAMESPACE_ROOTS, GoRelease, _line_of

SUPER_ROOT = "GO:ROOT"

Row = tuple[str, str, str, str]  # gene, term, evidence, date


@dataclass
class OntologyGraph:
    """A rooted DAG of terms with direct gene annotations.

    ``parents[t]`` are t's parent terms (never empty except for ``root``). Term removal keeps the
    DAG rooted: children are connected to all parents of the removed term, and its annotation rows
    move to those parents (DCell's rule).
    """

    root: str
    names: dict[str, str]
    namespaces: dict[str, str]
    parents: dict[str, set[str]]
    rows: list[Row]
    source: str = ""
    has_evidence_codes: bool = True
    has_dates: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def terms(self) -> list[str]:
        return list(self.parents)

    def children(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {t: set() for t in self.parents}
        for t, ps in self.parents.items():
            for p in ps:
                out[p].add(t)
        return out

    def pairs(self) -> set[tuple[str, str]]:
        return {(g, t) for g, t, _, _ in self.rows}

    def direct_genes(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {t: set() for t in self.parents}
        for g, t, _, _ in self.rows:
            out[t].add(g)
        return out

    def copy_with(self, **changes: object) -> OntologyGraph:
        return replace(self, notes=list(self.notes), **changes)

    def topological_order(self) -> list[str]:
        """Terms ordered children before parents; a cycle raises ``InputError`` naming a term."""
        pending = {t: len(ch) for t, ch in self.children().items()}
        ready = sorted(t for t, n in pending.items() if n == 0)
        order: list[str] = []
        while ready:
            t = ready.pop()
            order.append(t)
            for p in self.parents[t]:
                pending[p] -= 1
                if pending[p] == 0:
                    ready.append(p)
        if len(order) != len(self.parents):
            stuck = sorted(t for t, n in pending.items() if n > 0)
            raise CycleError(self.source, stuck)
        return order

    def contained_bits(self, gene_index: dict[str, int]) -> dict[str, int]:
        """Contained genes per term as Python-int bitsets (fast union/equality/popcount)."""
        bits: dict[str, int] = {t: 0 for t in self.parents}
        for g, t, _, _ in self.rows:
            i = gene_index.get(g)
            if i is not None:
                bits[t] |= 1 << i
        for t in self.topological_order():
            for p in self.parents[t]:
                bits[p] |= bits[t]
        return bits

    def remove_terms(self, removed: Iterable[str]) -> OntologyGraph:
        """Remove terms (never the root): reconnect children to the nearest kept ancestors and
        hand annotation rows of a removed term to all of them."""
        removed = set(removed) - {self.root}
        if not removed:
            return self.copy_with(parents={t: set(p) for t, p in self.parents.items()})
        memo: dict[str, set[str]] = {}

        def kept_ancestors(t: str) -> set[str]:
            # nearest kept ancestors of a removed term, memoised (removed chains can be long)
            if t in memo:
                return memo[t]
            stack, out, seen = [t], set(), set()
            while stack:
                u = stack.pop()
                for p in self.parents[u]:
                    if p in seen:
                        continue
                    seen.add(p)
                    if p in removed:
                        stack.append(p)
                    else:
                        out.add(p)
            memo[t] = out
            return out

        parents: dict[str, set[str]] = {}
        for t, ps in self.parents.items():
            if t in removed:
                continue
            new: set[str] = set()
            for p in ps:
                new |= kept_ancestors(p) if p in removed else {p}
            parents[t] = new
        rows: list[Row] = []
        for g, t, ev, d in self.rows:
            if t in removed:
                rows.extend((g, a, ev, d) for a in sorted(kept_ancestors(t)))
            else:
                rows.append((g, t, ev, d))
        return self.copy_with(parents=parents, rows=dedupe_rows(rows))


class CycleError(InputError):
    """The chosen relations form a cycle; names one term on it."""

    def __init__(self, source: str, stuck: list[str]) -> None:
        self.terms = stuck
        line = None
        if source and stuck:
            try:
                line = _line_of(Path(source), stuck[0])
            except (OSError, InputError):
                line = None
        super().__init__(
            source or None,
            line,
            f"cycle in the term hierarchy through {stuck[0]} ({len(stuck)} terms on or above it)",
        )


def dedupe_rows(rows: list[Row]) -> list[Row]:
    """Keep the first of identical rows, preserving order (deterministic downstream)."""
    return list(dict.fromkeys(rows))


@dataclass
class LoadReport:
    """What happened to annotation rows while mapping them onto the live ontology."""

    rows_in: int = 0
    alt_id_mapped: int = 0
    replaced: int = 0
    lost_obsolete: int = 0
    unknown_term: int = 0
    other_namespace: int = 0
    # file:line of the first row whose GO id the release lacks (a newer GAF than the ontology)
    unknown_term_first: str = ""
    lost_obsolete_first: str = ""


def graph_from_release(
    release: GoRelease,
    table: AnnotationTable,
    *,
    relations: Iterable[str] = ("is_a", "part_of"),
    namespaces: Iterable[str] = tuple(NAMESPACE_ROOTS),
    obsolete: str = "replaced_by",
) -> tuple[OntologyGraph, LoadReport]:
    """Join a GO release with annotations into a rooted DAG.

    Several namespaces hang under one super-root ``GO:ROOT``, as DCell did; a single namespace is
    rooted at its own root. ``obsolete`` says how annotations to obsolete ids are rescued:
    ``replaced_by`` (only that tag), ``consider`` (``replaced_by`` then ``consider``) or ``drop``.
    """
    relations, namespaces = set(relations), list(namespaces)
    unknown_ns = set(namespaces) - set(NAMESPACE_ROOTS)
    if unknown_ns:
        raise InputError(release.source, None, f"unknown namespace(s) {sorted(unknown_ns)}")
    live = {t for t, ns in release.namespaces.items() if ns in namespaces}
    parents: dict[str, set[str]] = {}
    for t in live:
        parents[t] = {p for p, rel in release.parents.get(t, []) if rel in relations and p in live}
    ns_roots = [NAMESPACE_ROOTS[n] for n in namespaces if NAMESPACE_ROOTS[n] in live]
    if len(namespaces) == 1 and ns_roots:
        root = ns_roots[0]
    else:
        root = SUPER_ROOT
        parents[root] = set()
        for r in ns_roots:
            parents[r].add(root)
    # Orphans (no parent left under the chosen relations) hang under the root so nothing is lost.
    for t, ps in parents.items():
        if not ps and t != root:
            ps.add(root)
    names = {t: release.names[t] for t in live}
    names.setdefault(root, "super-root (all namespaces)")
    nss = {t: release.namespaces[t] for t in live}
    nss.setdefault(root, "all")

    report = LoadReport(rows_in=len(table))
    rows: list[Row] = []
    cols = (table.genes, table.terms, table.evidence, table.dates, table.lines)
    for g, t, ev, d, line in zip(*cols, strict=True):
        targets = [t]
        if t in release.alt_ids:
            targets = [release.alt_ids[t]]
            report.alt_id_mapped += 1
        elif t in release.obsolete:
            new = [] if obsolete == "drop" else list(release.replaced_by.get(t, []))
            if not new and obsolete == "consider":
                new = list(release.consider.get(t, []))
            new = [release.alt_ids.get(x, x) for x in new]
            if not new:
                report.lost_obsolete += 1
                report.lost_obsolete_first = report.lost_obsolete_first or f"{table.source}:{line}"
                continue
            report.replaced += 1
            targets = new
        for x in targets:
            if x in parents:
                rows.append((g, x, ev, d))
            elif x in release.names:
                report.other_namespace += 1
            else:
                report.unknown_term += 1
                report.unknown_term_first = report.unknown_term_first or f"{table.source}:{line}"
    graph = OntologyGraph(
        root=root,
        names=names,
        namespaces=nss,
        parents=parents,
        rows=dedupe_rows(rows),
        source=release.source,
        has_evidence_codes=table.has_evidence_codes,
        has_dates=table.has_dates,
    )
    graph.topological_order()  # fail early, naming the OBO file, if the relations form a cycle
    return graph, report
