"""Three-column (DrugCell / NeST-VNN) and DCell topology export: parsing, lossless round trips."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dcellx.errors import InputError
from dcellx.ontology.build import build_ontology
from dcellx.ontology.compiled import compile_graph
from dcellx.ontology.formats import (
    breadth_first,
    read_three_column,
    write_three_column,
    write_topology,
)
from dcellx.ontology.graph import CycleError
from dcellx.ontology.recipe import load_recipe
from dcellx.ontology.topology import read_topology
from dcellx_cli.ontology_cmd import app

SHIPPED_TOPOLOGY = "dcell/GO_0006281_topology"


def _write(tmp_path: Path, text: str, name: str = "onto.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _stanzas(path: Path) -> list[tuple[str, int, list[str], list[str]]]:
    """(term, listed size, GENES tokens, TERMS tokens) per stanza, in file order."""
    lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    out = []
    for i in range(0, len(lines), 3):
        _, term, size = lines[i].split()
        out.append((term, int(size), lines[i + 1].split()[1:], lines[i + 2].split()[1:]))
    return out


def test_three_column_hand_made(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "# DrugCell style\n"
        "T:root\tT:a\tdefault\n"
        "T:root\tT:b\tdefault\n"
        "T:a\tT:c\tdefault\n"
        "T:b  T:c  default\n"  # whitespace-separated lines are accepted too
        "T:c\tYML032C\tgene\n"
        "T:a\tYER095W\tgene\n"
        "T:root\tYKL067W\tannotation\n"
        "\n",
    )
    graph = read_three_column(path)
    assert graph.root == "T:root"
    assert graph.parents == {
        "T:root": set(),
        "T:a": {"T:root"},
        "T:b": {"T:root"},
        "T:c": {"T:a", "T:b"},
    }
    assert graph.pairs() == {("YML032C", "T:c"), ("YER095W", "T:a"), ("YKL067W", "T:root")}
    onto = compile_graph(graph, "hand")
    assert onto.term_ids[onto.root] == "T:root"
    assert onto.contained.tolist()[onto.root] == 3


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("A\tB\tdefault\nA\tB\n", 2, "expected 3 fields"),
        ("A\tB\tdefault\n\nA B default extra\n", 3, "expected 3 fields"),
        ("A\tB\tdefault\nA\t\tgene\n", 2, "expected 3 fields"),
    ],
)
def test_three_column_malformed_line(tmp_path: Path, text: str, line: int, problem: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InputError, match=problem) as err:
        read_three_column(path)
    assert str(err.value).startswith(f"{path}:{line}: ")


def test_three_column_roots_and_cycles(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="exactly one root term, found 2: A, X"):
        read_three_column(_write(tmp_path, "A\tB\tdefault\nX\tY\tdefault\n"))
    with pytest.raises(InputError, match="no edges"):
        read_three_column(_write(tmp_path, "# nothing\n"))
    cyclic = _write(tmp_path, "R\tA\tdefault\nA\tB\tdefault\nB\tC\tdefault\nC\tA\tdefault\n")
    with pytest.raises(CycleError, match="cycle in the term hierarchy through A") as err:
        read_three_column(cyclic)
    assert str(err.value).startswith(f"{cyclic}:1: ")  # A's first parent edge
    assert err.value.terms[0] == "A"


def test_three_column_round_trip_real_dna_repair(onto_dna, tmp_path: Path) -> None:
    path = tmp_path / "dna.txt"
    write_three_column(onto_dna, path)
    lines = path.read_text().splitlines()
    assert len(lines) == int(onto_dna.child_ptr[-1]) + onto_dna.gene_term.shape[1]
    assert lines[0].startswith("GO:0006281\t")  # root first
    again = compile_graph(read_three_column(path), onto_dna.name)
    assert again.content_hash == onto_dna.content_hash
    assert again.contained.tolist() == onto_dna.contained.tolist()


def test_three_column_recipe(onto_dna, tmp_path: Path) -> None:
    """``ontology_format = "three-column"`` compiles an exported file to the same structure."""
    write_three_column(onto_dna, tmp_path / "dna.txt")
    recipe_path = _write(
        tmp_path,
        'name = "dna-3col"\nontology = "dna.txt"\nontology_format = "three-column"\n',
        "dna-3col.toml",
    )
    onto = build_ontology(load_recipe(str(recipe_path)), use_cache=False)
    assert onto.content_hash == onto_dna.content_hash
    assert onto.meta["stages"][0]["note"].startswith("three-column")


def test_topology_export_round_trip_and_matches_shipped_file(
    onto_dna, tmp_path: Path, shared_data: Path
) -> None:
    path = tmp_path / "GO_0006281_topology"
    write_topology(onto_dna, path)
    graph, sizes = read_topology(path)
    assert compile_graph(graph, onto_dna.name).content_hash == onto_dna.content_hash

    ours, shipped = _stanzas(path), _stanzas(shared_data / SHIPPED_TOPOLOGY)
    # Same stanzas: term, listed contained-gene count, direct genes and children as sets.
    canon = {(t, n, frozenset(g), frozenset(c)) for t, n, g, c in ours}
    assert canon == {(t, n, frozenset(g), frozenset(c)) for t, n, g, c in shipped}
    assert len(ours) == len(shipped) == 21
    assert sizes == {t: n for t, n, _, _ in shipped}
    # Root stanza first, then breadth-first: every term after one of its parents.
    assert ours[0][0] == shipped[0][0] == "GO:0006281"
    seen: set[str] = set()
    parents = {c: t for t, _, _, cs in ours for c in cs}
    for term, _, _, _ in ours:
        assert term == "GO:0006281" or parents[term] in seen
        seen.add(term)
    assert [onto_dna.term_ids[t] for t in breadth_first(onto_dna)] == [t for t, *_ in ours]
    # Line layout as DCell writes it: a space after every token, "TERMS: " when empty.
    text = path.read_text()
    assert "\nTERMS: \n" in text and text.splitlines()[1].endswith(" ")


def test_writers_are_atomic(onto_dna, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "out.txt"
    path.write_text("previous\n")

    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    for writer in (write_topology, write_three_column):
        with pytest.raises(OSError, match="disk full"):
            writer(onto_dna, path)
        assert path.read_text() == "previous\n"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_cli_export(onto_dna, tmp_path: Path, isolated_cache: Path) -> None:
    runner = CliRunner()
    for fmt, name in (("three-column", "dna.txt"), ("topology", "dna.topo")):
        out = tmp_path / name
        args = ["export", "--go", "dna-repair", "--format", fmt, "--out", str(out)]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "21 terms" in result.output
    graph = read_three_column(tmp_path / "dna.txt")
    assert compile_graph(graph, "x").content_hash == onto_dna.content_hash
    bad = runner.invoke(app, ["export", "--go", "dna-repair", "--format", "obo", "--out", "x"])
    assert bad.exit_code != 0
