"""The original DCell topology format: three lines per term.

    ROOT: <term> <number of contained genes>
    GENES: g1 g2 ...          (genes annotated directly to the term)
    TERMS: child1 child2 ...  (child terms)

These files are already filtered, so they compile without DCell's filters.
"""

from __future__ import annotations

from pathlib import Path

from dcellx.errors import InputError
from dcellx.fileio import read_text
from dcellx.ontology.graph import OntologyGraph


def read_topology(path: str | Path) -> tuple[OntologyGraph, dict[str, int]]:
    """Parse a topology file into a graph; also return the listed contained-gene counts."""
    path = Path(path)
    children: dict[str, list[str]] = {}
    genes: dict[str, list[str]] = {}
    sizes: dict[str, int] = {}
    where: dict[str, int] = {}  # term -> line of its TERMS: list (for an undefined child)
    lines = [(n, line.strip()) for n, line in enumerate(read_text(path).splitlines(), 1)]
    lines = [(n, line) for n, line in lines if line]
    if not lines:
        raise InputError(path, None, "empty topology file")
    i = 0
    while i < len(lines):
        n, line = lines[i]
        if not line.startswith("ROOT:"):
            raise InputError(path, n, f"expected 'ROOT: <term> <n_genes>', got {line[:40]!r}")
        head = line[5:].split()
        if len(head) != 2 or not head[1].isdigit():
            raise InputError(path, n, "ROOT line must be 'ROOT: <term> <n_genes>'")
        term = head[0]
        if term in children:
            raise InputError(path, n, f"term {term} defined twice")
        if i + 2 >= len(lines):
            raise InputError(path, n, f"term {term} lacks its GENES:/TERMS: lines")
        (ng, gl), (nt, tl) = lines[i + 1], lines[i + 2]
        if not gl.startswith("GENES:"):
            raise InputError(path, ng, "expected a 'GENES:' line")
        if not tl.startswith("TERMS:"):
            raise InputError(path, nt, "expected a 'TERMS:' line")
        sizes[term] = int(head[1])
        genes[term] = gl[6:].split()
        children[term] = tl[6:].split()
        where[term] = nt
        i += 3
    parents: dict[str, set[str]] = {t: set() for t in children}
    for t, chs in children.items():
        for c in chs:
            if c not in parents:
                problem = f"term {t} names child {c}, which has no ROOT: stanza"
                raise InputError(path, where[t], problem)
            parents[c].add(t)
    roots = [t for t, ps in parents.items() if not ps]
    if len(roots) != 1:
        raise InputError(path, None, f"expected exactly one root term, found {len(roots)}")
    rows = [(g, t, "", "") for t, gs in genes.items() for g in gs]
    graph = OntologyGraph(
        root=roots[0],
        names={t: "" for t in parents},
        namespaces={t: "" for t in parents},
        parents=parents,
        rows=rows,
        source=str(path),
        has_evidence_codes=False,
        has_dates=False,
    )
    graph.topological_order()
    return graph, sizes
