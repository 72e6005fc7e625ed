"""The build's load record (``meta["load"]``) and the offline ``latest`` recipe end to end."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcellx.ontology.build import load_ontology
from dcellx.ontology.compiled import CompiledOntology
from dcellx.ontology.stats import ontology_stats
from tests.ontology.conftest import gaf_row, write_gaf


@pytest.fixture(scope="module")
def latest() -> CompiledOntology:
    """``--go latest`` offline: the registered 2024 GO and 2026 GAF stand in (compiled once)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DCELLX_OFFLINE", "1")
        return load_ontology("latest", use_cache=False)


def test_latest_offline_counts(latest: CompiledOntology) -> None:
    s = ontology_stats(latest)
    assert (s["terms"], s["genes"], s["annotations"], s["edges"], s["strata"]) == (
        2405,
        4096,
        42230,
        4358,
        15,
    )
    assert s["genes"] >= 3900 and s["universe_size"] == 4111  # acceptance: most Costanzo genes
    stages = [
        (x["name"], x["terms"], x["edges"], x["annotations"], x["genes"]) for x in s["stages"]
    ]
    assert stages == [
        ("loaded", 40940, 71830, 62443, 6465),
        ("evidence", 40940, 71830, 61499, 6465),
        ("containment", 2762, 4715, 42085, 4096),
        ("redundancy", 2405, 4358, 42230, 4096),
    ]


def test_latest_offline_names_its_substitutes(latest: CompiledOntology) -> None:
    inputs = latest.meta["recipe"]["resolved_inputs"]
    assert (inputs["ontology"], inputs["annotations"]) == (
        "go-2024-09-08.obo.gz",
        "sgd-2026-03-28.gaf.gz",
    )
    subs = inputs["substitutions"]
    assert len(subs) == 2
    assert "go-2024-09-08" in subs[0] and "sgd-2026-03-28" in subs[1]
    assert all("DCELLX_OFFLINE" in x for x in subs)


def test_latest_offline_load_record(latest: CompiledOntology) -> None:
    load = latest.meta["load"]
    assert set(load) == {"obo", "annotations", "mapping"}
    obo = load["obo"]
    assert obo["parser"] == "dcellx" and obo["data_version"] == "releases/2024-09-08"
    assert (obo["live_terms"], obo["obsolete_terms"], obo["alt_ids"]) == (40939, 6965, 3357)
    assert (obo["edges"]["is_a"], obo["edges"]["part_of"], obo["skipped_lines"]) == (64364, 7471, 0)
    ann = load["annotations"]
    assert ann["rows_read"] == 130339
    assert ann["resolved"] == {"sgd_id": 124360, "alias": 3276, "symbol": 0}
    assert ann["dropped"] == {
        "NOT": 32,
        "ambiguous": 69,
        "not a gene (protein_complex)": 2597,
        "unresolved": 5,
    }
    mapping = load["mapping"]
    assert mapping["rows_in"] == ann["rows_kept"] == 127636
    # the 2026 GAF is newer than the 2024 GO: some of its ids are not in the release
    assert mapping["unknown_term"] > 0 and mapping["unknown_term_first"].startswith(
        str(latest.meta["inputs"]["annotations"]) + ":"
    )


def test_unknown_and_retired_ids_counted_with_first_position(
    tiny_obo: Path, tmp_path: Path
) -> None:
    genes = ["YAL001C", "YAL002W", "YAL003W"]
    universe = tmp_path / "genes.txt"
    universe.write_text("\n".join(genes) + "\n")
    rows = [gaf_row(g, "GO:0000002") for g in genes]
    rows += [
        gaf_row("YAL001C", "GO:0000055"),  # alt_id of E
        gaf_row("YAL002W", "GO:0000006"),  # obsolete, replaced_by C
        gaf_row("YAL003W", "GO:0000007"),  # obsolete without replacement
        gaf_row("YAL001C", "GO:0009999"),  # in no release: a GAF newer than the ontology
        gaf_row("YAL002W", "GO:0009998"),
    ]
    gaf = write_gaf(tmp_path / "a.gaf", rows)
    onto = load_ontology(
        "2017", use_cache=False, obo=tiny_obo, annotations=gaf, universe=universe, min_genes=1
    )
    mapping = onto.meta["load"]["mapping"]
    first_unknown = 1 + rows.index(gaf_row("YAL001C", "GO:0009999")) + 1  # header is line 1
    assert mapping == {
        "rows_in": 8,
        "alt_id_mapped": 1,
        "replaced": 1,
        "lost_obsolete": 1,
        "unknown_term": 2,
        "other_namespace": 0,
        "unknown_term_first": f"{gaf}:{first_unknown}",
        "lost_obsolete_first": f"{gaf}:{first_unknown - 1}",
    }
    assert onto.meta["load"]["annotations"]["rows_kept"] == 8
    assert onto.meta["load"]["obo"]["live_terms"] == 6
