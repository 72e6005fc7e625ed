"""DCell's GO filters, each a pure function ``OntologyGraph -> OntologyGraph`` with a report.

Paper order (Ma et al. 2018, Methods): drop IGI annotations ("to avoid circularity") -> drop terms
containing fewer than n genes -> drop terms whose gene set equals a child's. ``apply_filters`` runs
any order and records terms/annotations after each stage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass

from dcellx.errors import DcellxError
from dcellx.ontology.graph import OntologyGraph


@dataclass
class StageReport:
    """Counts after one stage; ``annotations`` = distinct (gene, term) pairs, ``edges`` =
    parent edges, ``genes`` = distinct annotated genes (before the universe is applied)."""

    name: str
    terms: int
    annotations: int
    note: str = ""
    edges: int = 0
    genes: int = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def report(name: str, graph: OntologyGraph, note: str = "") -> StageReport:
    pairs = graph.pairs()
    edges = sum(len(p) for p in graph.parents.values())
    return StageReport(
        name, len(graph.parents), len(pairs), note, edges, len({g for g, _ in pairs})
    )


def filter_date_cutoff(graph: OntologyGraph, cutoff: str) -> tuple[OntologyGraph, str]:
    """Keep annotations dated on or before ``cutoff`` (YYYY-MM-DD), torchcell's
    ``date_created <= 2017-07-19`` semantics. Undated rows are kept and counted in the note."""
    if not graph.has_dates:
        return graph.copy_with(), "not applicable: the annotation source has no dates"
    limit = cutoff.replace("-", "")
    undated = sum(1 for r in graph.rows if not r[3])
    rows = [r for r in graph.rows if not r[3] or r[3] <= limit]
    note = f"cutoff {cutoff}; dropped {len(graph.rows) - len(rows)} rows"
    if undated:
        note += f"; kept {undated} undated rows"
    return graph.copy_with(rows=rows), note


def filter_evidence(graph: OntologyGraph, exclude: Iterable[str]) -> tuple[OntologyGraph, str]:
    """Drop annotation rows whose evidence code is excluded (IGI by default). A pair supported
    by other evidence too survives through those rows."""
    exclude = set(exclude)
    if not exclude:
        return graph.copy_with(), "no codes excluded"
    if not graph.has_evidence_codes:
        return graph.copy_with(), (
            f"not applicable: the annotation source has no exact evidence codes "
            f"({','.join(sorted(exclude))} not removed)"
        )
    rows = [r for r in graph.rows if r[2] not in exclude]
    return graph.copy_with(rows=rows), f"excluded {','.join(sorted(exclude))}: " + (
        f"dropped {len(graph.rows) - len(rows)} rows"
    )


def filter_nd(graph: OntologyGraph) -> tuple[OntologyGraph, str]:
    """Drop ND ('no biological data') rows: they annotate genes to the namespace roots only."""
    rows = [r for r in graph.rows if r[2] != "ND"]
    return graph.copy_with(rows=rows), f"dropped {len(graph.rows) - len(rows)} ND rows"


def filter_containment(
    graph: OntologyGraph, min_genes: int, universe: set[str] | None
) -> tuple[OntologyGraph, str]:
    """Remove terms containing fewer than ``min_genes`` genes of the universe.

    Annotations to genes outside the universe are dropped first: the universe is also the model's
    input gene set (the paper counted genes disrupted in Costanzo 2016).
    """
    rows = graph.rows if universe is None else [r for r in graph.rows if r[0] in universe]
    g = graph.copy_with(rows=rows)
    genes = sorted({r[0] for r in rows})
    bits = g.contained_bits({x: i for i, x in enumerate(genes)})
    small = [t for t, b in bits.items() if b.bit_count() < min_genes and t != g.root]
    out = g.remove_terms(small)
    where = "all annotated genes" if universe is None else f"a universe of {len(universe)} genes"
    return out, f"n >= {min_genes} over {where}; removed {len(small)} terms"


def filter_redundancy(graph: OntologyGraph) -> tuple[OntologyGraph, str]:
    """Remove every non-root term whose contained gene set equals one of its children's.

    Removal preserves every remaining term's contained set (genes move up, children reconnect),
    so all redundant terms can be found on one pass and removed together.
    """
    genes = sorted({r[0] for r in graph.rows})
    bits = graph.contained_bits({x: i for i, x in enumerate(genes)})
    children = graph.children()
    redundant = [
        t for t, ch in children.items() if t != graph.root and any(bits[c] == bits[t] for c in ch)
    ]
    return graph.remove_terms(redundant), f"removed {len(redundant)} terms"


def filter_unannotated(graph: OntologyGraph) -> tuple[OntologyGraph, str]:
    """Remove every non-root term without a direct annotation (children reconnect upwards).

    torchcell builds its GO graph from annotated terms only (its "raw" 5,660 terms are the terms
    SGD annotates); DCell's paper keeps every term and lets containment decide.
    """
    annotated = {t for _, t, _, _ in graph.rows}
    bare = [t for t in graph.parents if t not in annotated and t != graph.root]
    return graph.remove_terms(bare), f"removed {len(bare)} terms without a direct annotation"


FILTERS = ("date_cutoff", "evidence", "nd", "unannotated", "containment", "redundancy")


@dataclass
class FilterSettings:
    """The filter part of a recipe (see ``dcellx.ontology.recipe.Recipe``)."""

    order: Sequence[str] = ("evidence", "containment", "redundancy")
    date_cutoff: str | None = None
    exclude_evidence: Sequence[str] = ("IGI",)
    drop_nd: bool = False
    min_genes: int = 6


def apply_filters(
    graph: OntologyGraph, settings: FilterSettings, universe: set[str] | None
) -> tuple[OntologyGraph, list[StageReport]]:
    """Run the filters in ``settings.order``; date cutoff and ND, when set but not listed, run
    first. Returns the filtered graph and one report per stage (``loaded`` first)."""
    order = list(settings.order)
    unknown = [s for s in order if s not in FILTERS]
    if unknown:
        raise DcellxError(f"unknown filter stage(s) {unknown}; choose from {list(FILTERS)}")
    if settings.drop_nd and "nd" not in order:
        order.insert(0, "nd")
    if settings.date_cutoff and "date_cutoff" not in order:
        order.insert(0, "date_cutoff")
    stages: dict[str, Callable[[OntologyGraph], tuple[OntologyGraph, str]]] = {
        "date_cutoff": lambda g: (
            filter_date_cutoff(g, settings.date_cutoff)
            if settings.date_cutoff
            else (g, "no cutoff")
        ),
        "evidence": lambda g: filter_evidence(g, settings.exclude_evidence),
        "nd": filter_nd,
        "unannotated": filter_unannotated,
        "containment": lambda g: filter_containment(g, settings.min_genes, universe),
        "redundancy": filter_redundancy,
    }
    reports = [report("loaded", graph)]
    for name in order:
        graph, note = stages[name](graph)
        reports.append(report(name, graph, note))
    return graph, reports
