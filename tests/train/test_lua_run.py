"""``dcellx import-lua``: the imported run is a run directory ``predict`` and ``rlipp`` take, and
``predict`` on it reproduces the plain nngraph interpreter's predictions."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from dcellx.diagnose.run_stats import run_rlipp
from dcellx.train import checkpoint
from dcellx.train.lua_run import import_lua_run
from dcellx.train.predict import predict
from tests.nn.nngraph_interpreter import NNGraph, read_gene_columns, read_genotypes
from tests.nn.test_lua_import import GENE_MAP, MODEL, TEST, TOPOLOGY
from tests.train.conftest import run_cli


@pytest.fixture(scope="module")
def imported_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("lua-import")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DCELLX_CACHE", str(base / "cache"))
        summary = import_lua_run("dcell-dna-repair-model", base / "run", threads=1)
    return base / "run", summary


def test_run_directory(imported_run) -> None:
    run, summary = imported_run
    assert {p.name for p in run.iterdir()} == {
        "config.json",
        "env.json",
        "import.json",
        "summary.json",
        "weights-best.pt",
    }
    config = json.loads((run / "config.json").read_text())
    model = config["run"]["model"]
    assert model["preset"] == "lua-released" and model["gene_layer"] == "dense-layer"
    assert model["block"] == "linear-norm-tanh" and model["aux_input"] == "state"
    assert config["run"]["batch_size"] == 800 and config["run"]["betas"] == [0.9, 0.99]
    assert config["labels"]["norm"] == "none"
    state = checkpoint.load(run / "weights-best.pt")
    assert state["model"]["norms.GO:0006281.running_var"].shape == (32,)
    assert json.loads((run / "summary.json").read_text())["status"] == "imported"
    assert summary["metrics"]["test"]["n"] == 2868
    record = json.loads((run / "import.json").read_text())
    assert record["source"]["sha256"].startswith("f499a72d")


def test_predict_reproduces_the_interpreter(imported_run, tmp_path) -> None:
    run, summary = imported_run
    out = tmp_path / "preds.csv"
    report = predict(run, "dcell-dna-repair", out)
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    graph = NNGraph(MODEL)
    _, root_out, columns = read_gene_columns(GENE_MAP)
    genes, x = read_genotypes(TEST, columns)
    want = graph.forward(x)[root_out]
    assert [tuple(r["genes"].split(";")) for r in rows] == genes
    got = np.array([float(r["prediction"]) for r in rows])
    # the run holds the file's float32 weights and computes in float32
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()
    assert report["pearson"] == pytest.approx(summary["metrics"]["test"]["pearson"], abs=1e-6)


def test_rlipp_takes_the_imported_run(imported_run) -> None:
    rows = run_rlipp(imported_run[0])
    assert len(rows) == 11  # the terms with children
    assert all(np.isfinite(r["parent_rho"]) and np.isfinite(r["children_rho"]) for r in rows)


def test_cli_import_and_a_mismatched_topology(cli_env, tmp_path) -> None:
    res = run_cli(
        ["import-lua", str(MODEL), "--gene-map", str(GENE_MAP), "--out", str(tmp_path / "r")],
        cli_env,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert "differs from --preset lua" in res.stdout and (tmp_path / "r" / "summary.json").exists()
    again = run_cli(["import-lua", str(MODEL), "--out", str(tmp_path / "r")], cli_env)
    assert again.returncode == 2 and "not an empty directory" in again.stderr
    bad = tmp_path / "topology"
    bad.write_text(TOPOLOGY.read_text().replace("GO:0000727", "GO:0000001"))
    res = run_cli(
        ["import-lua", str(MODEL), "--topology", str(bad), "--out", str(tmp_path / "b")],
        cli_env,
        timeout=300,
    )
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "'gene_GO:0000727'" in lines[0] and "lacks" in lines[0], lines
    assert not (tmp_path / "b").exists()
