"""``scripts/check_layers.py`` passes on this tree and catches what it is for on a made-up one."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("check_layers", ROOT / "scripts" / "check_layers.py")
check_layers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_layers)


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_this_tree_is_layered() -> None:
    assert check_layers.check() == []


def test_upward_import_inside_a_function_circle_and_size(tmp_path) -> None:
    root = _tree(
        tmp_path,
        {
            "dcellx/__init__.py": "",
            "dcellx/ontology/__init__.py": "",
            "dcellx/ontology/graph.py": "def f():\n    from dcellx.nn import dcell\n",
            "dcellx/nn/__init__.py": "",
            "dcellx/nn/dcell.py": "from dcellx.nn import layout\n" + "x = 1\n" * 401,
            "dcellx/nn/layout.py": "from dcellx.nn.dcell import x\n",
            "dcellx/train/__init__.py": "",
            "dcellx/train/ok.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                "    from dcellx.report import write\nfrom dcellx.nn import layout\n"
            ),
            "dcellx/report/__init__.py": "",
            "dcellx/report/write.py": "",
        },
    )
    problems = check_layers.check(root)
    assert any("ontology/graph.py:2" in p and "a higher layer" in p for p in problems)
    assert any("import circle" in p and "dcellx.nn.layout" in p for p in problems)
    assert any(p.startswith("dcellx/nn/dcell.py: 402 lines") for p in problems)
    assert not any("train/ok.py" in p for p in problems)  # TYPE_CHECKING and downward: fine
    assert len(problems) == 3


def test_a_type_only_circle_is_a_circle_but_no_layering_problem(tmp_path) -> None:
    type_only = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from {} import X\n"
    root = _tree(
        tmp_path,
        {
            "dcellx/__init__.py": "",
            "dcellx/nn/__init__.py": "",
            # dcell imports engine at run time, engine names DCell in its annotations only
            "dcellx/nn/dcell.py": "from dcellx.nn import engine\n",
            "dcellx/nn/engine.py": type_only.format("dcellx.nn.dcell"),
            # type-only both ways, never at run time
            "dcellx/nn/a.py": type_only.format("dcellx.nn.b"),
            "dcellx/nn/b.py": type_only.format("dcellx.nn.a"),
            # a type-only import of a higher layer stays exempt from the layering
            "dcellx/ontology/__init__.py": "",
            "dcellx/ontology/graph.py": type_only.format("dcellx.nn.dcell"),
        },
    )
    problems = check_layers.check(root)
    assert "import circle: dcellx.nn.dcell -> dcellx.nn.engine" in problems
    assert "import circle: dcellx.nn.a -> dcellx.nn.b" in problems
    assert len(problems) == 2
