"""DCell's filters on hand-made ontologies whose answers are known exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcellx.errors import DcellxError, InputError
from dcellx.ontology.annotations import read_gaf
from dcellx.ontology.compiled import compile_graph
from dcellx.ontology.filters import (
    FilterSettings,
    apply_filters,
    filter_containment,
    filter_date_cutoff,
    filter_evidence,
    filter_redundancy,
)
from dcellx.ontology.graph import OntologyGraph, graph_from_release
from dcellx.ontology.obo import read_obo
from tests.ontology.conftest import gaf_row, term, write_gaf, write_obo


def graph(parents: dict[str, set[str]], genes: dict[str, list[str]], root: str = "R"):
    rows = [(g, t, "IDA", "") for t, gs in genes.items() for g in gs]
    names = {t: t for t in parents}
    return OntologyGraph(root, names, dict(names), parents, rows)


def test_load_maps_alt_ids_obsolete_and_relations(tiny_obo: Path, tmp_path: Path) -> None:
    gaf = write_gaf(
        tmp_path / "a.gaf",
        [
            gaf_row("YAL001C", "GO:0000055"),  # alt id of E
            gaf_row("YAL002W", "GO:0000006"),  # obsolete, replaced by C
            gaf_row("YAL003W", "GO:0000007"),  # obsolete, lost
            gaf_row("YAL004W", "GO:0000003"),
        ],
    )
    g, rep = graph_from_release(
        read_obo(tiny_obo), read_gaf(gaf), namespaces=["biological_process"]
    )
    assert g.root == "GO:0008150"
    assert g.pairs() == {
        ("YAL001C", "GO:0000005"),
        ("YAL002W", "GO:0000003"),
        ("YAL004W", "GO:0000003"),
    }
    assert (rep.alt_id_mapped, rep.replaced, rep.lost_obsolete) == (1, 1, 1)
    assert g.parents["GO:0000003"] == {"GO:0000001"}  # part_of kept
    assert g.parents["GO:0000004"] == {"GO:0008150"}  # regulates ignored
    g2, _ = graph_from_release(read_obo(tiny_obo), read_gaf(gaf), relations=["is_a"])
    assert g2.root == "GO:ROOT"
    assert g2.parents["GO:0000003"] == {"GO:ROOT"}  # orphan without part_of hangs under root


def test_containment_reconnects_children_and_hands_genes_up() -> None:
    # R <- A <- B <- C ; A has 3 genes contained only through its children and its own
    g = graph(
        {"R": set(), "A": {"R"}, "B": {"A"}, "C": {"B"}},
        {"A": ["g1"], "B": ["g2"], "C": ["g3", "g4"]},
    )
    out, note = filter_containment(g, 3, None)
    # B contains g2,g3,g4 (3) -> kept; C contains 2 -> removed, genes to B
    assert set(out.parents) == {"R", "A", "B"}
    assert out.direct_genes()["B"] == {"g2", "g3", "g4"}
    assert "removed 1 terms" in note


def test_containment_counts_over_universe_only() -> None:
    g = graph({"R": set(), "A": {"R"}}, {"A": ["g1", "g2", "x"]})
    out, _ = filter_containment(g, 2, {"g1", "g2"})
    assert out.pairs() == {("g1", "A"), ("g2", "A")}
    out, _ = filter_containment(g, 3, {"g1", "g2"})
    assert set(out.parents) == {"R"}
    assert out.direct_genes()["R"] == {"g1", "g2"}


def test_redundancy_removes_parent_equal_to_child() -> None:
    # R <- P <- C, P has no own genes -> same set as C -> P removed, C reconnected to R
    g = graph({"R": set(), "P": {"R"}, "C": {"P"}, "D": {"R"}}, {"C": ["g1", "g2"], "D": ["g3"]})
    out, _ = filter_redundancy(g)
    assert set(out.parents) == {"R", "C", "D"}
    assert out.parents["C"] == {"R"}


def test_root_is_never_removed() -> None:
    g = graph({"R": set(), "A": {"R"}}, {"A": ["g1"]})
    assert "R" in filter_redundancy(g)[0].parents
    assert "R" in filter_containment(g, 5, None)[0].parents


def test_evidence_filter_keeps_pairs_with_other_evidence() -> None:
    g = graph({"R": set(), "A": {"R"}}, {})
    g.rows = [("g1", "A", "IGI", ""), ("g1", "A", "IMP", ""), ("g2", "A", "IGI", "")]
    out, _ = filter_evidence(g, ["IGI"])
    assert out.pairs() == {("g1", "A")}
    g.has_evidence_codes = False
    out, note = filter_evidence(g, ["IGI"])
    assert out.pairs() == {("g1", "A"), ("g2", "A")} and note.startswith("not applicable")


def test_date_cutoff_on_hand_made_dated_gaf(tiny_obo: Path, tmp_path: Path) -> None:
    gaf = write_gaf(
        tmp_path / "dated.gaf",
        [
            gaf_row("YAL001C", "GO:0000002", date="20170719"),  # on the cutoff: kept
            gaf_row("YAL002W", "GO:0000002", date="20170720"),  # after: dropped
            gaf_row("YAL003W", "GO:0000003", date="20100101"),
        ],
    )
    g, _ = graph_from_release(read_obo(tiny_obo), read_gaf(gaf))
    out, note = filter_date_cutoff(g, "2017-07-19")
    assert out.pairs() == {("YAL001C", "GO:0000002"), ("YAL003W", "GO:0000003")}
    assert "dropped 1 rows" in note
    assert g.pairs() != out.pairs()  # pure: input untouched


def test_apply_filters_order_and_reports() -> None:
    g = graph(
        {"R": set(), "A": {"R"}, "B": {"A"}, "C": {"R"}},
        {"B": ["g1", "g2", "g3"], "C": ["g4"]},
    )
    out, reps = apply_filters(g, FilterSettings(min_genes=2), None)
    assert [r.name for r in reps] == ["loaded", "evidence", "containment", "redundancy"]
    assert set(out.parents) == {"R", "B"}  # C too small, A redundant with B
    assert reps[2].terms == 3 and reps[3].terms == 2


def test_cycle_is_an_input_error_naming_the_obo_line(tmp_path: Path) -> None:
    obo = write_obo(
        tmp_path / "cyc.obo",
        [
            term("GO:0008150", "bp"),
            term("GO:0000001", "A", "GO:0008150", "GO:0000002"),
            term("GO:0000002", "B", "GO:0000001"),
        ],
    )
    gaf = write_gaf(tmp_path / "a.gaf", [gaf_row("Y1", "GO:0000002")])
    with pytest.raises(InputError, match=r"cyc\.obo:\d+: cycle in the term hierarchy"):
        graph_from_release(read_obo(obo), read_gaf(gaf))


def test_empty_after_filtering_is_an_error() -> None:
    g = graph({"R": set(), "A": {"R"}}, {"A": ["g1"]})
    out, _ = filter_containment(g, 1, {"zzz"})
    with pytest.raises(DcellxError, match="empty after filtering"):
        compile_graph(out, "tiny")
