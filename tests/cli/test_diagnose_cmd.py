"""``diagnose --json`` and ``data simulate`` through a Typer app built from ``register*``."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from dcellx.data.datasets import load_genotypes
from dcellx_cli.diagnose_cmd import register, register_simulate


def make_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test app (the callback keeps ``diagnose`` a subcommand)."""

    register(app)
    data = typer.Typer()
    register_simulate(data)
    app.add_typer(data, name="data")
    return app


def test_diagnose_json(isolated_cache) -> None:
    app = make_app()
    args = ["diagnose", "--go", "dna-repair", "--compare-go", "dna-repair", "--json"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    for key in ("samples", "distinct_inputs", "wildtype_inputs", "unknown_genes"):
        assert isinstance(out[key], int)
    assert out["samples"] == 32 and out["distinct_inputs"] == 32
    assert out["ceiling_pearson"] == 1.0 and out["ceiling_mse"] == 0.0
    assert list(out["coverage"]) == ["dna-repair"]
    assert out["capacity"]["terms"] > 0 and out["capacity"]["params"] > 0
    whole = json.loads(CliRunner().invoke(app, [*args, "--split", "train"]).output)
    assert whole["samples"] == 8783 and whole["scope"] == "train"
    tables = CliRunner().invoke(app, args[:-1], env={"COLUMNS": "200"})
    assert tables.exit_code == 0 and "identifiability ceiling" in tables.output


def test_data_simulate(tmp_path) -> None:
    genes = tmp_path / "genes.txt"
    genes.write_text("# test genes\n" + "\n".join(f"G{i}" for i in range(30)) + "\n")
    out = tmp_path / "sim.txt"
    args = ["data", "simulate", "--genes", str(genes), "--order", "2", "--n", "100"]
    res = CliRunner().invoke(app := make_app(), [*args, "--seed", "3", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_text().startswith("# SYNTHETIC") and len(load_genotypes(out)) == 100
    bad = CliRunner().invoke(app, [*args, "--teacher", "nonsense", "--out", str(out)])
    assert bad.exit_code != 0
    # the dcell teacher: a randomly initialised DCell on the (small, real) DNA-repair ontology
    dcell_args = ["data", "simulate", "--order", "2", "--n", "50", "--teacher", "dcell"]
    dcell_args += ["--teacher-go", "dna-repair", "--out", str(out)]
    res = CliRunner().invoke(app, dcell_args)
    assert res.exit_code == 0, res.output
    assert "teacher=dcell" in out.read_text().splitlines()[1]


def test_diagnose_deletion_rule(isolated_cache) -> None:
    app = make_app()
    args = ["diagnose", "--go", "dna-repair", "--compare-go", "dna-repair", "--json"]
    exact = json.loads(CliRunner().invoke(app, args).output)
    res = CliRunner().invoke(app, [*args, "--deletion-rule", "torchcell-index-guard"])
    assert res.exit_code == 0, res.output
    guard = json.loads(res.output)
    assert exact["deletion_rule"] == "exact" and exact["hidden_genes"] == 0
    assert guard["deletion_rule"] == "torchcell-index-guard" and guard["hidden_genes"] > 0
    assert guard["distinct_inputs"] < exact["distinct_inputs"] == 32
    bad = CliRunner().invoke(app, [*args, "--deletion-rule", "nonsense"])
    assert bad.exit_code != 0
