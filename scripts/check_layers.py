"""Fail on an import against dcellx's data flow, an import circle, or a module over 400 lines.

Layers, lowest first (a module may import its own layer and the ones below it, never above):

    io (dcellx.errors, dcellx.fileio, dcellx.io) -> ontology -> data -> batch -> nn | interop
    -> train -> scale | diagnose -> report -> bench -> cli

Every ``import`` counts, inside functions too; imports under ``if TYPE_CHECKING:`` are exempt
from the layering (they never run) but count for circles: a type-only circle still ties two
modules together for a reader. ``scale`` and ``diagnose`` share a rank but may not import each
other.
Run: ``python scripts/check_layers.py`` (part of ``make test``); exit 1 lists every problem.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 400
RANK = {
    "dcellx": 0,  # the package's __init__ (version only)
    "dcellx.errors": 0,
    "dcellx.fileio": 0,
    "dcellx.io": 0,
    "dcellx.ontology": 1,
    "dcellx.data": 2,
    "dcellx.batch": 3,
    "dcellx.nn": 4,
    "dcellx.interop": 4,  # other frameworks' objects of a build and its batches (reads nn's rules)
    "dcellx.train": 5,
    "dcellx.scale": 6,
    "dcellx.diagnose": 6,
    "dcellx.report": 7,
    "dcellx.bench": 8,
    "dcellx_cli": 9,
}


def module_name(path: Path, root: Path = ROOT) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[0] == "cli":  # the folder cli/ installs as the package dcellx_cli
        parts[0] = "dcellx_cli"
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer(module: str) -> str | None:
    """The longest RANK key that is ``module`` or a package above it."""
    best = None
    for key in RANK:
        if (module == key or module.startswith(key + ".")) and (
            best is None or len(key) > len(best)
        ):
            best = key
    return best


def _type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def imports(
    tree: ast.AST, here: str, is_pkg: bool, type_only: bool = False
) -> list[tuple[str, int]]:
    """(imported dcellx module, line) for every import that can run, and with ``type_only``
    also those under ``if TYPE_CHECKING:``."""
    out: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        if _type_checking_block(node) and not type_only:
            for child in node.orelse:  # the else branch runs
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.extend((a.name, node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = here.split(".")
                base = base if is_pkg else base[:-1]
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.append((mod, node.lineno))
            # ``from dcellx.train import checkpoint`` imports the submodule too
            out.extend((f"{mod}.{a.name}", node.lineno) for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    # ``cli.x`` is this repository's CLI under its old import name
    out = [("dcellx_cli" + m[3:] if m.split(".")[0] == "cli" else m, ln) for m, ln in out]
    return [(m, ln) for m, ln in out if m.split(".")[0] in ("dcellx", "dcellx_cli")]


def check(root: Path = ROOT) -> list[str]:
    files = sorted(
        p for pkg in ("dcellx", "cli") if (root / pkg).is_dir() for p in (root / pkg).rglob("*.py")
    )
    known = {module_name(p, root) for p in files}
    graph: dict[str, set[str]] = {}
    problems: list[str] = []
    reported: set[tuple[Path, int]] = set()
    for path in files:
        here = module_name(path, root)
        text = path.read_text(encoding="utf-8")
        n = text.count("\n")
        rel = path.relative_to(root)
        if n > MAX_LINES:
            problems.append(f"{rel}: {n} lines (over {MAX_LINES})")
        mine = layer(here)
        if mine is None:
            problems.append(f"{rel}: module {here} belongs to no layer (add it to RANK)")
            continue
        tree = ast.parse(text, filename=str(path))
        is_pkg = path.name == "__init__.py"
        # circles: every import, type-only ones included
        graph[here] = {
            t
            for t, _ in imports(tree, here, is_pkg, type_only=True)
            if t in known and t != here and layer(t) is not None
        }
        for target, line in imports(tree, here, is_pkg):
            if target not in known:
                continue  # a name imported from a module, not a module
            theirs = layer(target)
            if theirs is None or target == here:
                continue
            up = RANK[theirs] > RANK[mine]
            sibling = RANK[theirs] == RANK[mine] and theirs != mine and RANK[mine] == 6
            if (up or sibling) and (rel, line) not in reported:  # one line, one problem
                reported.add((rel, line))
                problems.append(
                    f"{rel}:{line}: {here} ({mine}) imports {target} ({theirs}), "
                    + ("a higher layer" if up else "a sibling layer")
                )
    problems.extend(circles(graph))
    return problems


def circles(graph: dict[str, set[str]]) -> list[str]:
    """Every strongly connected set of modules with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[str] = []
    sys.setrecursionlimit(10_000)

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            # a package importing its own submodules is not a circle with them
            members = [m for m in comp if not any(o.startswith(m + ".") for o in comp)]
            if len(members) > 1:
                found.append("import circle: " + " -> ".join(sorted(comp)))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return found


def main() -> int:
    problems = check()
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} layering problem(s)", file=sys.stderr)
        return 1
    print("layers: no upward import, no circle (type-only included), no module over 400 lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
