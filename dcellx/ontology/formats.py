"""Ontology exchange formats: DrugCell / NeST-VNN three-column files and DCell topology export.

Three-column (one edge a line, tab- or whitespace-separated)::

    parent<TAB>child<TAB>default     term -> child term
    term<TAB>gene<TAB>gene           gene annotated directly to term (any type but "default")

Both formats are already filtered, so they compile without DCell's filters; exporting a compiled
ontology and reading it back gives the same content hash, which lets an ontology built here be
used by DrugCell-style code (and vice versa) without silently changing the model's structure.
Writers are atomic (temp file + rename): an interrupted export never leaves a truncated file.
"""

from __future__ import annotations

import re
from collections import deque
from pathlib import Path

from dcellx.errors import InputError
from dcellx.fileio import atomic_write_text, read_text
from dcellx.ontology.compiled import CompiledOntology
from dcellx.ontology.graph import CycleError, OntologyGraph

TERM_EDGE = "default"


def read_three_column(path: str | Path) -> OntologyGraph:
    """Parse a three-column ontology; the root is the single term that has no parent."""
    path = Path(path)
    lines = read_text(path).splitlines()
    parents: dict[str, set[str]] = {}
    rows: list[tuple[str, str, str, str]] = []
    first_edge: dict[str, int] = {}  # child term -> line of its first parent edge
    for lineno, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        fields = [f.strip() for f in text.split("\t")] if "\t" in text else text.split()
        if len(fields) != 3 or not all(fields):
            raise InputError(
                path, lineno, f"expected 3 fields 'parent child type', got {len(fields)}"
            )
        parent, child, kind = fields
        parents.setdefault(parent, set())
        if kind == TERM_EDGE:
            parents.setdefault(child, set()).add(parent)
            first_edge.setdefault(child, lineno)
        else:
            rows.append((child, parent, "", ""))
    if not parents:
        raise InputError(path, None, "no edges found")
    roots = sorted(t for t, ps in parents.items() if not ps)
    if len(roots) != 1:
        shown = ", ".join(roots[:5]) + (" ..." if len(roots) > 5 else "")
        raise InputError(path, None, f"expected exactly one root term, found {len(roots)}: {shown}")
    graph = OntologyGraph(
        root=roots[0],
        names={t: "" for t in parents},
        namespaces={t: "" for t in parents},
        parents=parents,
        rows=list(dict.fromkeys(rows)),
        source=str(path),
        has_evidence_codes=False,
        has_dates=False,
    )
    try:
        graph.topological_order()
    except CycleError as exc:
        err = CycleError("", exc.terms)
        InputError.__init__(err, path, first_edge.get(exc.terms[0]), err.problem)
        raise err from None
    return graph


def _children(onto: CompiledOntology) -> list[list[str]]:
    """Child term ids per term index, sorted by id (a stable, readable order)."""
    ids = onto.term_ids
    return [sorted(ids[c] for c in onto.children(t).tolist()) for t in range(onto.num_terms)]


def _direct_genes(onto: CompiledOntology) -> list[list[str]]:
    ptr = onto.direct_gene_ptr()
    genes = onto.gene_term[0]
    return [
        sorted(onto.gene_ids[g] for g in genes[ptr[t] : ptr[t + 1]].tolist())
        for t in range(onto.num_terms)
    ]


def breadth_first(onto: CompiledOntology) -> list[int]:
    """Term indices from the root, breadth-first (parents before children), children by id."""
    index = onto.term_index
    children = _children(onto)
    order, seen, queue = [], {onto.root}, deque([onto.root])
    while queue:
        t = queue.popleft()
        order.append(t)
        for c in children[t]:
            if index[c] not in seen:
                seen.add(index[c])
                queue.append(index[c])
    return order


def _atomic_write(path: str | Path, text: str) -> None:
    atomic_write_text(path, text)


def _check_ids(onto: CompiledOntology) -> None:
    """Ids with whitespace would split into extra fields and not read back."""
    bad = [x for x in (*onto.term_ids, *onto.gene_ids) if not x or re.search(r"\s", x)]
    if bad:
        raise InputError(None, None, f"ids with whitespace cannot be exported: {bad[:3]}")


def write_three_column(onto: CompiledOntology, path: str | Path) -> None:
    """Write ``parent child default`` / ``term gene gene`` lines, terms breadth-first."""
    _check_ids(onto)
    children, genes = _children(onto), _direct_genes(onto)
    lines = []
    for t in breadth_first(onto):
        term = onto.term_ids[t]
        lines += [f"{term}\t{c}\t{TERM_EDGE}\n" for c in children[t]]
        lines += [f"{term}\t{g}\tgene\n" for g in genes[t]]
    _atomic_write(path, "".join(lines))


def write_topology(onto: CompiledOntology, path: str | Path) -> None:
    """Write DCell's topology format: root stanza first, then breadth-first.

    Each token is followed by a space, as in DCell's own files (``GENES: `` when empty).
    """
    _check_ids(onto)
    children, genes = _children(onto), _direct_genes(onto)
    parts = []
    for t in breadth_first(onto):
        parts.append(f"ROOT: {onto.term_ids[t]} {int(onto.contained[t])}\n")
        parts.append("GENES: " + "".join(f"{g} " for g in genes[t]) + "\n")
        parts.append("TERMS: " + "".join(f"{c} " for c in children[t]) + "\n")
    _atomic_write(path, "".join(parts))
