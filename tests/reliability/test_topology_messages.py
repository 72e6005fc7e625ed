"""Issue 14 item 10: a child term a topology file names but never defines is refused with the
file:line of the ``TERMS:`` line that names it (exit 2, one line, nothing cached)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcellx.errors import InputError
from dcellx.ontology.topology import read_topology
from tests.reliability.conftest import compiled_ontologies, refused


def broken_copy(shared_data: Path, tmp_path: Path) -> tuple[Path, int, str, str]:
    """The real DNA-repair topology with one child id misspelt; returns the file, the line of
    the ``TERMS:`` list holding it, the parent and the misspelt child."""
    lines = (shared_data / "dcell/GO_0006281_topology").read_text().splitlines()
    at = next(i for i, ln in enumerate(lines) if i > 2 and ln.startswith("TERMS: GO:"))
    parent = lines[at - 2].split()[1]
    child = lines[at].split()[1]
    lines[at] = lines[at].replace(child, "GO:9999999", 1)
    path = tmp_path / "topology"
    path.write_text("\n".join(lines) + "\n")
    return path, at + 1, parent, "GO:9999999"


def test_undefined_child_names_file_and_line(tmp_path: Path, shared_data: Path) -> None:
    path, line, parent, child = broken_copy(shared_data, tmp_path)
    with pytest.raises(InputError) as exc:
        read_topology(path)
    assert (exc.value.path, exc.value.line) == (str(path), line)
    assert (
        str(exc.value)
        == f"{path}:{line}: term {parent} names child {child}, which has no ROOT: stanza"
    )


def test_undefined_child_through_the_cli(
    tmp_path: Path, shared_data: Path, cli, reliability_env: Path
) -> None:
    path, line, parent, child = broken_copy(shared_data, tmp_path)
    recipe = tmp_path / "broken.toml"
    recipe.write_text(
        f'name = "broken"\nontology = "{path}"\nontology_format = "topology"\n'
        'universe = "annotated"\n'
    )
    runs = tmp_path / "runs"
    got = refused(cli("overfit", "--go", recipe, "--epochs", "1", "--runs-dir", runs, "-q"))
    assert (
        got == f"error: {path}:{line}: term {parent} names child {child}, which has no ROOT: stanza"
    )
    assert not runs.exists() and compiled_ontologies(reliability_env) == []
