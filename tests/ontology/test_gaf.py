"""GAF 2.1/2.2 genes resolved by rule (SGD ID, alias, symbol), on the real files and by hand.

Routes in order: column-2 SGD ID through the id map; the single column-11 alias that is a universe
gene or a systematic name; the column-3 symbol through the id map. ``NOT`` rows, non-gene rows
(``protein_complex``), ambiguous and unresolved rows are dropped and counted in ``table.record``.
"""

from __future__ import annotations

import functools
import gzip
from pathlib import Path

import pytest

from dcellx.ontology.annotations import read_gaf
from dcellx.ontology.idmap import GeneIdMap, read_id_map
from tests.conftest import SHARED_DATA

GAF_2017 = SHARED_DATA / "annotations" / "sgd-2017-01-18.gaf.gz"
GAF_2026 = SHARED_DATA / "annotations" / "sgd-2026-03-28.gaf.gz"


@functools.cache
def id_map() -> GeneIdMap:
    return read_id_map(SHARED_DATA / "ids" / "yeast_clean4.txt")


@functools.cache
def costanzo() -> frozenset[str]:
    lines = (SHARED_DATA / "ids" / "costanzo_2016_genes.txt").read_text().splitlines()
    return frozenset(line.split()[0] for line in lines if line.strip())


def test_id_map_entries_used_below() -> None:
    m = id_map()
    assert len(costanzo()) == 4111
    assert m.by_sgd_id["S000000001"] == "YAL001C" and m.by_sgd_id["S000000364"] == "YBR160W"
    assert m.symbol_to_orf("RAD52") == "YML032C" and m.symbol_to_orf("rad52") == "YML032C"
    assert m.symbol_to_orf("TSV115") == "YAL001C"  # an alias (second ;-field)
    for unknown in ("S009999901", "S000132612"):
        assert unknown not in m.by_sgd_id


# --- the real files ----------------------------------------------------------------------------


def test_real_2026_gaf_routes_and_drops() -> None:
    t = read_gaf(GAF_2026, id_map(), set(costanzo()))
    r = t.record
    assert r["format"] == "GAF 2.2" and r["rows_read"] == 130339
    assert r["resolved"] == {"sgd_id": 124360, "alias": 3276, "symbol": 0}
    assert r["dropped"] == {
        "NOT": 32,
        "ambiguous": 69,
        "not a gene (protein_complex)": 2597,
        "unresolved": 5,
    }
    assert r["rows_kept"] == len(t) == 130339 - 32 - 69 - 2597 - 5 == 124360 + 3276
    assert r["first_dropped_at"]["NOT"] == f"{GAF_2026}:3037"
    assert r["first_dropped_at"]["unresolved"] == f"{GAF_2026}:114749"
    assert r["relations"]["enables"] == 48456 and r["relations"]["involved_in"] == 38630
    assert sum(r["relations"].values()) == len(t) and "(none)" not in r["relations"]
    assert r["id_map"] == str(SHARED_DATA / "ids" / "yeast_clean4.txt")


def test_real_2026_gaf_drops_are_what_the_readme_says() -> None:
    """Count the drop reasons straight from the file, independently of the reader."""
    not_rows = complexes = 0
    unresolved_aliases = set()
    with gzip.open(GAF_2026, "rt") as fh:
        for line in fh:
            if line.startswith("!"):
                continue
            cols = line.rstrip("\n").split("\t")
            if "NOT" in cols[3].split("|"):
                not_rows += 1
            elif cols[11] == "protein_complex":
                complexes += 1
            elif cols[2] == "ICR1":
                unresolved_aliases.add(cols[10])
    # README: 2,598 protein_complex rows, one of them a NOT row
    assert (not_rows, complexes) == (32, 2597)
    # the 5 unresolved rows: ICR1, an ncRNA whose name YNCI0012 has no strand letter, SGD ID
    # S000132612 absent from the 2016 id map
    assert unresolved_aliases == {"YNCI0012"}


def test_real_2017_gaf_genes_are_column_11() -> None:
    t = read_gaf(GAF_2017, id_map(), set(costanzo()))
    r = t.record
    assert r["format"] == "GAF 2.1" and r["rows_read"] == r["rows_kept"] == 86172
    assert r["resolved"] == {"sgd_id": 84246, "alias": 1926, "symbol": 0}
    assert r["dropped"] == {} and r["relations"] == {"(none)": 86172}
    with gzip.open(GAF_2017, "rt") as fh:
        col11 = [x.split("\t")[10] for x in fh if x.strip() and not x.startswith("!")]
    assert t.genes == col11


# --- a hand-made GAF 2.2 -----------------------------------------------------------------------


def row22(
    sgd: str, symbol: str, rel: str, term: str, aliases: str, typ: str = "protein", **kw: str
) -> str:
    db, ev, aspect = kw.get("db", "SGD"), kw.get("ev", "IDA"), kw.get("aspect", "P")
    cols = [db, sgd, symbol, rel, term, "PMID:1", ev, "", aspect, "", aliases, typ]
    cols += ["taxon:559292", kw.get("date", "20240101"), "SGD", "", ""]
    assert len(cols) == 17
    return "\t".join(cols)


# (row, gene kept or drop reason, route)
ROWS_22 = [
    # SGD ID in the map wins, whatever column 11 says
    (row22("S000000001", "TFC3", "enables", "GO:0003674", "TSV115|YAL001C", aspect="F"),
     "YAL001C", "sgd_id"),
    # SGD IDs unknown to the map: the single systematic alias, wherever it stands
    (row22("S009999901", "RAD52", "involved_in", "GO:0006281", "YML032C|RAD52"),
     "YML032C", "alias"),  # ORF first
    (row22("S009999902", "TFC3", "located_in", "GO:0005634", "TSV115|YAL001C|TFC3", aspect="C"),
     "YAL001C", "alias"),  # ORF in the middle
    (row22("S009999903", "ACT1", "enables", "GO:0003674", "ABY1|END7|YFL039C", ev="ND",
           aspect="F"),
     "YFL039C", "alias"),  # ORF last (today's usual order)
    # two systematic aliases: not guessed
    (row22("S009999904", "SWH1", "enables", "GO:0005515", "OSH1|YAR042W|YAR044W", ev="IPI",
           aspect="F"),
     "ambiguous", None),
    # a ComplexPortal complex is not a gene
    (row22("CPX-26727", "chl1-ctf4_yeast", "enables", "GO:0003678",
           "CHL1:3xCTF4|Replisome accessory complex", "protein_complex", db="ComplexPortal",
           aspect="F"),
     "not a gene (protein_complex)", None),
    # NOT rows are dropped even when the gene resolves
    (row22("S000004494", "RAD52", "NOT|enables", "GO:0003677", "YML032C", aspect="F"),
     "NOT", None),
    (row22("S000000364", "CDC28", "NOT|involved_in", "GO:0006281", "CDK1|HSL5|SRM5|YBR160W"),
     "NOT", None),
    # only the column-3 symbol resolves it
    (row22("S009999905", "RAD52", "involved_in", "GO:0000724", "RAD52", ev="IGI"),
     "YML032C", "symbol"),
    # only the SGD ID resolves it (no ORF in column 11)
    (row22("S000000364", "CDC28", "is_active_in", "GO:0005634", "CDK1|HSL5|SRM5", aspect="C"),
     "YBR160W", "sgd_id"),
    (row22("S000000292", "POL30", "part_of", "GO:0043626", "YBR088C", aspect="C"),
     "YBR088C", "sgd_id"),
    # the real ICR1 row of the 2026 file: nothing resolves it
    (row22("S000132612", "ICR1", "involved_in", "GO:0006357", "YNCI0012", "ncRNA"),
     "unresolved", None),
]  # fmt: skip


def write_gaf22(path: Path, rows: list[str]) -> Path:
    path.write_text("!gaf-version: 2.2\n!generated-by: test\n" + "\n".join(rows) + "\n")
    return path


HEADER_LINES = 2


def test_gaf22_routes_drops_and_relations(tmp_path: Path) -> None:
    path = write_gaf22(tmp_path / "a.gaf", [r for r, _, _ in ROWS_22])
    t = read_gaf(path, id_map(), set(costanzo()))
    kept = [(n, gene) for n, (_, gene, route) in enumerate(ROWS_22, HEADER_LINES + 1) if route]
    expected = ["YAL001C", "YML032C", "YAL001C", "YFL039C", "YML032C", "YBR160W", "YBR088C"]
    assert [g for _, g in kept] == expected and t.genes == expected
    assert t.lines == [n for n, _ in kept]
    assert t.terms[1] == "GO:0006281" and t.evidence[3] == "ND" and t.evidence[4] == "IGI"
    assert t.evidence_class[:4] == ["experimental", "experimental", "experimental", "other"]
    r = t.record
    assert r["format"] == "GAF 2.2" and (r["rows_read"], r["rows_kept"]) == (12, 7)
    assert r["resolved"] == {"sgd_id": 3, "alias": 3, "symbol": 1}
    assert r["dropped"] == {
        "NOT": 2,
        "ambiguous": 1,
        "not a gene (protein_complex)": 1,
        "unresolved": 1,
    }
    first = {}
    for n, (_, what, route) in enumerate(ROWS_22, HEADER_LINES + 1):
        if route is None:
            first.setdefault(what, f"{path}:{n}")
    assert r["first_dropped_at"] == dict(sorted(first.items()))
    assert r["relations"] == {
        "enables": 2,
        "involved_in": 2,
        "is_active_in": 1,
        "located_in": 1,
        "part_of": 1,
    }


def test_gaf22_without_id_map_only_aliases_resolve(tmp_path: Path) -> None:
    path = write_gaf22(tmp_path / "a.gaf", [r for r, _, _ in ROWS_22])
    r = read_gaf(path).record
    # every row now depends on its column 11 alone
    assert r["resolved"] == {"sgd_id": 0, "alias": 5, "symbol": 0}
    assert r["dropped"]["unresolved"] == 3  # symbol-only RAD52, SGD-only CDC28, ICR1


def test_universe_gene_counts_as_an_alias(tmp_path: Path) -> None:
    # a universe that names YNCI0012 rescues the ICR1 row through its alias
    path = write_gaf22(tmp_path / "a.gaf", [ROWS_22[-1][0]])
    t = read_gaf(path, id_map(), {"YNCI0012"})
    assert t.genes == ["YNCI0012"] and t.record["resolved"]["alias"] == 1


@pytest.mark.parametrize("qual", ["NOT", "NOT|contributes_to"])
def test_gaf21_not_qualifier(tmp_path: Path, qual: str) -> None:
    cols = ["SGD", "S000004494", "RAD52", qual, "GO:0003677", "PMID:1", "IDA", "", "F", "",
            "YML032C", "gene", "taxon:559292", "20170101", "SGD"]  # fmt: skip
    ok = cols.copy()
    ok[3] = "contributes_to" if "|" in qual else ""
    path = tmp_path / "a.gaf"
    path.write_text("!gaf-version: 2.1\n" + "\t".join(cols) + "\n" + "\t".join(ok) + "\n")
    r = read_gaf(path, id_map()).record
    assert r["format"] == "GAF 2.1" and r["dropped"] == {"NOT": 1}
    assert r["first_dropped_at"] == {"NOT": f"{path}:2"}
    assert r["relations"] == {("contributes_to" if "|" in qual else "(none)"): 1}
