"""predict: original label units, and a refusal when the ontology is not the trained one."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from dcellx.data.datasets import load_dataset
from dcellx.errors import ConfigError
from dcellx.io.registry import fetch
from dcellx.train import make_run_config, run
from dcellx.train.metrics import pearson
from dcellx.train.predict import predict


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    cfg = make_run_config(go="dna-repair", epochs=200, threads=1, runs_dir=str(runs), quiet=True)
    return run(cfg)


def test_overfit_reaches_high_eval_pearson(fitted) -> None:
    assert fitted.summary["best_pearson_eval_bn"] > 0.99
    assert fitted.summary["final_pearson_train_bn"] > 0.99


def test_predictions_in_original_units(fitted, tmp_path) -> None:
    # the overfit batch (first 32 training genotypes) as a genes/value table
    ds = load_dataset("dcell-dna-repair")["train"].subset(slice(0, 32))
    table = tmp_path / "batch.csv"
    pairs = zip(ds.genes, ds.values[:, 0], strict=True)
    lines = ["genes,value"] + [f"{';'.join(g)},{float(v)!r}" for g, v in pairs]
    table.write_text("\n".join(lines) + "\n")
    out = tmp_path / "preds" / "p.csv"
    report = predict(fitted.run_dir, str(table), out)
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["genes", "prediction", "measured"] and len(rows) == 32
    pred = np.array([float(r["prediction"]) for r in rows])
    y = np.array([float(r["measured"]) for r in rows])
    assert np.allclose(y, ds.values[:, 0])
    labels = json.loads((fitted.run_dir / "config.json").read_text())["labels"]
    assert labels["std"] < 0.5  # raw labels are far from unit scale, so z-units would show
    assert pearson(pred, y) > 0.98 and report["pearson"] == pytest.approx(pearson(pred, y))
    assert np.sqrt(np.mean((pred - y) ** 2)) < 0.2 * y.std()
    assert not list(out.parent.glob(".*.tmp"))


def test_genes_only_file(fitted, tmp_path) -> None:
    table = tmp_path / "genes.csv"
    table.write_text("genes\nYMR190C;YPL022W\nYMR190C\n")
    report = predict(fitted.run_dir, str(table), tmp_path / "p.csv")
    text = (tmp_path / "p.csv").read_text().splitlines()
    assert text[0] == "genes,prediction" and len(text) == 3 and "pearson" not in report


def test_refuses_a_different_ontology(fitted, tmp_path) -> None:
    # the same DNA-repair topology with one gene annotation moved to another term
    lines = fetch("dcell-dna-repair-topology").read_text().splitlines()
    genes = [i for i, ln in enumerate(lines) if ln.startswith("GENES:") and len(ln.split()) > 2]
    moved = lines[genes[0]].split()[-1]
    lines[genes[0]] = lines[genes[0]].rsplit(" ", 1)[0]
    lines[genes[1]] += f" {moved}"
    (tmp_path / "topology").write_text("\n".join(lines) + "\n")
    recipe = tmp_path / "edited.toml"
    recipe.write_text('name = "edited"\nontology = "topology"\nontology_format = "topology"\n')
    with pytest.raises(ConfigError, match="refusing"):
        predict(fitted.run_dir, "dcell-dna-repair", tmp_path / "p.csv", go=str(recipe))
    assert not (tmp_path / "p.csv").exists()
    # the run's own recipe compiles to the trained structure: accepted
    assert predict(fitted.run_dir, "dcell-dna-repair", tmp_path / "p.csv")["genotypes"] == 2868


def test_cli_predict_and_resume_of_a_finished_run(fitted, tmp_path) -> None:
    from typer.testing import CliRunner

    from dcellx_cli.main import app

    out = tmp_path / "cli.csv"
    args = ["predict", "--run", str(fitted.run_dir), "--data", "dcell-dna-repair"]
    args += ["--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "2868 predictions" in res.output and out.exists()
    res = CliRunner().invoke(app, ["overfit", "--resume", str(fitted.run_dir), "-q"])
    assert res.exit_code == 0 and "best eval-BN Pearson" in res.output
