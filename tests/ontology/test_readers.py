"""OBO, GAF, TSV and topology readers on hand-made and real files."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from dcellx.errors import InputError
from dcellx.ontology.annotations import read_annotations, read_gaf, read_gene_term_tsv
from dcellx.ontology.obo import read_obo
from dcellx.ontology.topology import read_topology
from tests.conftest import SHARED_DATA
from tests.ontology.conftest import gaf_row, write_gaf


def test_obo_terms_relations_and_retired_ids(tiny_obo: Path) -> None:
    rel = read_obo(tiny_obo)
    assert set(rel.names) == {f"GO:000000{i}" for i in range(1, 6)} | {"GO:0008150"}
    assert ("GO:0000001", "part_of") in rel.parents["GO:0000003"]
    assert ("GO:0000002", "regulates") in rel.parents["GO:0000004"]
    assert rel.alt_ids == {"GO:0000055": "GO:0000005"}
    assert rel.obsolete == {"GO:0000006", "GO:0000007"}
    assert rel.replaced_by["GO:0000006"] == ["GO:0000003"]


def test_malformed_obo_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.obo"
    bad.write_text("format-version: 1.2\n\n[Term]\nid: GO:0000001\nname: a\n\n[Term]\nid GO:2\n")
    with pytest.raises(InputError) as exc:
        read_obo(bad)
    assert str(exc.value).startswith(f"{bad}:8: malformed OBO")


def test_real_go_release_counts() -> None:
    rel = read_obo(SHARED_DATA / "go" / "go-2019-01-27.obo.gz")
    # README: 47,347 terms of which 2,334 obsolete
    assert len(rel.names) == 47347 - 2334
    assert len(rel.obsolete) == 2334
    assert rel.names["GO:0006281"] == "DNA repair"
    assert sum(r == "is_a" for ps in rel.parents.values() for _, r in ps) == 77189


def test_gaf_reads_systematic_names_drops_not(tmp_path: Path) -> None:
    rows = [gaf_row("YAL001C", "GO:0000001"), gaf_row("YAL002W", "GO:0000002", qual="NOT")]
    rows.append(gaf_row("YAL003W", "GO:0000002", ev="IGI"))
    path = write_gaf(tmp_path / "a.gaf", rows)
    gz = tmp_path / "a.gaf.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    for p in (path, gz):
        t = read_gaf(p)
        assert t.genes == ["YAL001C", "YAL003W"]
        assert t.evidence == ["IDA", "IGI"]
        assert t.lines == [2, 4]


def test_gaf_wrong_column_count(tmp_path: Path) -> None:
    path = write_gaf(tmp_path / "a.gaf", [gaf_row("Y1", "GO:0000001"), "SGD\tS0\tX\t\tGO:1"])
    with pytest.raises(InputError, match=r"a\.gaf:3: GAF row has 5 columns"):
        read_gaf(path)


def test_gaf_unknown_evidence_code(tmp_path: Path) -> None:
    path = write_gaf(tmp_path / "a.gaf", [gaf_row("Y1", "GO:0000001", ev="XYZ")])
    with pytest.raises(InputError, match=r"a\.gaf:2: unknown evidence code 'XYZ'"):
        read_gaf(path)


def test_real_gaf_rows() -> None:
    t = read_annotations(SHARED_DATA / "annotations" / "sgd-2017-01-18.gaf.gz")
    assert len(t) == 86172
    assert len(t.pairs()) == 68608
    assert sum(e == "IGI" for e in t.evidence) == 3596
    assert t.genes[0] == "YAL068C"


def test_tsv_without_evidence_codes() -> None:
    t = read_gene_term_tsv(SHARED_DATA / "annotations" / "yeast-gene2go-2018-10-26.tsv.gz")
    assert len(t) == 68236
    assert not t.has_evidence_codes
    assert set(t.evidence_class) == {"experimental", "other"}


def test_tsv_bad_row(tmp_path: Path) -> None:
    p = tmp_path / "a.tsv"
    p.write_text("gene\tterm\tdate\nY1\tGO:0000001\t2017-01-01\nY2\tGO:0000001\n")
    with pytest.raises(InputError, match=r"a\.tsv:3: row has 2 columns"):
        read_gene_term_tsv(p)


def test_dna_repair_topology() -> None:
    graph, sizes = read_topology(SHARED_DATA / "dcell" / "GO_0006281_topology")
    assert graph.root == "GO:0006281"
    assert len(graph.parents) == 21
    assert sizes["GO:0006281"] == 162


def test_topology_truncated(tmp_path: Path) -> None:
    p = tmp_path / "topo"
    p.write_text("ROOT: GO:1 3\nGENES: a b c\nTERMS: GO:2\nROOT: GO:2 1\nGENES: a\n")
    with pytest.raises(InputError, match=r"topo:4: term GO:2 lacks"):
        read_topology(p)
