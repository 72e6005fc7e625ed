"""The users' two GO builds (``--go torchcell-latest|torchcell-2017``) on the real 2024 GO and
2026 GAF: per-stage counts, the genome-wide vocabulary, and the published counts beside ours."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from dcellx_cli.main import app
from tests.conftest import compiled

# (stage, terms, edges, annotations, genes) after each filter, as compiled from the real files
STAGES = {
    "torchcell-latest": [
        ("loaded", 40940, 64367, 62443, 6465),
        ("unannotated", 5941, 10528, 62443, 6465),
        ("evidence", 5941, 10528, 61499, 6465),
        ("redundancy", 5778, 10308, 61558, 6465),
        ("containment", 2949, 5090, 60758, 5967),
    ],
    "torchcell-2017": [
        ("loaded", 40940, 64367, 62443, 6465),
        ("date_cutoff", 40940, 64367, 27806, 6230),
        ("unannotated", 4047, 6581, 27806, 6230),
        ("evidence", 4047, 6581, 26696, 6213),
        ("redundancy", 4001, 6513, 26722, 6213),
        ("containment", 1735, 2703, 26783, 5762),
    ],
}
FINAL = {"torchcell-latest": (2949, 5967, 11, 662), "torchcell-2017": (1735, 5762, 9, 867)}


@pytest.fixture(scope="module", params=sorted(STAGES))
def build(request):
    return request.param, compiled(request.param)


def test_stages_and_vocabulary(build) -> None:
    go, onto = build
    got = [
        (s["name"], s["terms"], s["edges"], s["annotations"], s["genes"])
        for s in onto.meta["stages"]
    ]
    assert got == STAGES[go]
    terms, genes, strata, unannotated = FINAL[go]
    assert (onto.num_terms, onto.num_genes, onto.num_strata) == (terms, genes, strata)
    vocab = onto.meta["vocabulary"]
    assert vocab["size"] == 6629 and vocab["without_annotation"] == unannotated
    assert vocab["genes"] == sorted(vocab["genes"])
    assert onto.term_ids[onto.root] == "GO:ROOT"
    # every compiled gene sits at its position in the sorted vocabulary
    pos = onto.vocabulary_positions()
    assert [vocab["genes"][p] for p in pos] == onto.gene_ids
    assert np.all(np.diff(pos) > 0)


def test_stats_json_prints_ours_beside_the_published_counts(build) -> None:
    go, _ = build
    res = CliRunner().invoke(app, ["ontology", "stats", "--go", go, "--json"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.output)
    assert s["published"]["terms"] == {"torchcell-latest": 2655, "torchcell-2017": 1408}[go]
    assert s["vocabulary"]["without_annotation"] == FINAL[go][3]
    assert "genes" not in s["vocabulary"]  # the 6,629 names stay in the compiled file
