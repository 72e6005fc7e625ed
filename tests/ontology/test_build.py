"""Real recipes end to end: counts, caching, content hash, CLI output and bad-input behaviour."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dcellx.errors import DcellxError
from dcellx.ontology import build
from dcellx.ontology.build import load_ontology
from dcellx.ontology.compiled import CompiledOntology
from dcellx.ontology.stats import ontology_stats
from tests.ontology.conftest import gaf_row, term, write_gaf, write_obo

DCELLX = [sys.executable, "-c", "from dcellx_cli.main import main; main()"]


def test_2017_paper_filters(onto_2017: CompiledOntology) -> None:
    s = ontology_stats(onto_2017)
    # Paper (2,526 terms, 12 layers, 97,181 neurons) used other GO/annotation snapshots; these are
    # our exact counts for GO 2019-01-27 + SGD 2017-01-18 over the Costanzo 2016 genes.
    assert (s["terms"], s["genes"], s["annotations"], s["strata"]) == (2429, 4096, 47472, 17)
    assert s["neurons"] == 100969 and (s["width_min"], s["width_max"]) == (20, 1229)
    names = [st["name"] for st in s["stages"]]
    assert names == ["loaded", "evidence", "containment", "redundancy"]
    assert s["stages"][1]["annotations"] < s["stages"][0]["annotations"]  # IGI removed
    assert s["root"] == "GO:ROOT" and onto_2017.term_ids[-1] == "GO:ROOT"
    assert set(onto_2017.gene_ids) <= set(
        (Path(__file__).resolve().parents[2] / "../shared/data/ids/costanzo_2016_genes.txt")
        .read_text()
        .split()
    )


def test_2018_records_evidence_filter_not_applicable(onto_2018: CompiledOntology) -> None:
    s = ontology_stats(onto_2018)
    assert (s["terms"], s["genes"], s["strata"]) == (2675, 4068, 17)
    ev = s["stages"][1]
    assert ev["name"] == "evidence" and ev["note"].startswith("not applicable")
    assert ev["annotations"] == s["stages"][0]["annotations"]


def test_compiled_structure_invariants(onto_2017: CompiledOntology) -> None:
    o = onto_2017
    # every child sits in a lower stratum than its parent; the root alone is on top
    for t in range(o.num_terms):
        assert all(o.strata[c] < o.strata[t] for c in o.children(t))
    assert (o.strata == o.strata.max()).sum() == 1
    # contained >= direct and the root contains every input gene
    assert o.contained[o.root] == o.num_genes
    assert (o.contained >= o.direct_counts()).all()
    inc = o.incidence()
    assert inc.shape == (o.num_genes, o.num_terms) and inc._nnz() == o.gene_term.shape[1]


def test_dna_repair_topology_compiles_with_listed_sizes(onto_dna: CompiledOntology) -> None:
    listed = onto_dna.meta["listed_sizes"]
    got = dict(zip(onto_dna.term_ids, onto_dna.contained.tolist(), strict=True))
    assert got == listed
    assert onto_dna.term_ids[onto_dna.root] == "GO:0006281"
    assert onto_dna.num_genes == 162


def test_cache_round_trip_and_hash(
    onto_dna: CompiledOntology, isolated_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = load_ontology("dna-repair")
    files = list((isolated_cache / "ontologies").glob("*.npz"))
    assert len(files) == 1

    def no_compile(*args, **kwargs):
        raise AssertionError("a cached ontology was compiled again")

    # the second load reads the cache (its speed, <= 1 s, is cached_load_s in bench_ontology)
    with monkeypatch.context() as m:
        m.setattr(build, "compile_recipe", no_compile)
        b = load_ontology("dna-repair")
    assert a.content_hash == b.content_hash == onto_dna.content_hash
    assert np.array_equal(a.gene_term, b.gene_term) and a.term_ids == b.term_ids
    # a corrupted cache file is refused, not silently used
    data = dict(np.load(files[0], allow_pickle=False))
    data["child_idx"] = data["child_idx"][::-1].copy()
    np.savez(files[0], **data)
    with pytest.raises(DcellxError, match="content hash mismatch"):
        CompiledOntology.load(files[0])


def test_content_hash_changes_with_filters(onto_dna: CompiledOntology) -> None:
    o6 = load_ontology("dna-repair", use_cache=False)
    assert o6.content_hash == onto_dna.content_hash
    # a 2017 ontology with another containment threshold differs
    assert load_ontology("2017", use_cache=False, min_genes=40).num_terms < 2429


def run_cli(*args: str, cache: Path) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ, DCELLX_CACHE=str(cache))
    return subprocess.run(DCELLX + list(args), capture_output=True, text=True, env=env)


def test_cli_stats_json(isolated_cache: Path) -> None:
    r = run_cli("ontology", "stats", "--go", "dna-repair", "--json", cache=isolated_cache)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    for key in ("terms", "genes", "annotations", "edges", "strata", "leaves", "neurons"):
        assert isinstance(s[key], int)
    assert s["terms"] == 21 and len(s["content_hash"]) == 64 and s["stages"][0]["name"] == "loaded"


@pytest.mark.parametrize("case", ["malformed", "cycle", "empty", "bad_gaf"])
def test_cli_bad_input_one_line_error_no_cache(case: str, tmp_path: Path, isolated_cache) -> None:
    obo = write_obo(
        tmp_path / "o.obo",
        [term("GO:0008150", "bp"), term("GO:0000001", "A", "GO:0008150")],
    )
    gaf = write_gaf(tmp_path / "a.gaf", [gaf_row(f"Y{i}", "GO:0000001") for i in range(8)])
    extra: list[str] = []
    if case == "malformed":
        obo.write_text(obo.read_text().replace("id: GO:0000001", "id GO:0000001"))
    elif case == "cycle":
        obo = write_obo(
            tmp_path / "o.obo",
            [
                term("GO:0008150", "bp"),
                term("GO:0000001", "A", "GO:0008150", "GO:0000002"),
                term("GO:0000002", "B", "GO:0000001"),
            ],
        )
    elif case == "empty":
        extra = ["--min-genes", "6", "--universe", str(tmp_path / "genes.txt")]
        (tmp_path / "genes.txt").write_text("NOTAGENE\n")
    elif case == "bad_gaf":
        gaf.write_text(gaf.read_text() + "SGD\tonly\tfour\tcols\n")
    r = run_cli(
        "ontology", "build", "--go", "2017", "--obo", str(obo), "--gaf", str(gaf), *extra,
        cache=isolated_cache,
    )  # fmt: skip
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    if case != "empty":
        assert str(tmp_path) in lines[0] and ":" in lines[0]
    assert not list(isolated_cache.rglob("*.npz"))
