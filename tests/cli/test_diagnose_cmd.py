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


def test_diagnose_own_batch_with_own_vocabulary(isolated_cache, tmp_path) -> None:
    """The users' check on real builds: both rules, hidden genes by term, and the answer moves
    with the vocabulary order; a vocabulary lacking a gene of the build is one line, exit 2."""
    from dcellx.data.trigenic import simulate_trigenic
    from dcellx.data.universe import load_ontology_with_datasets
    from dcellx.ontology.vocabulary import recipe_vocabulary
    from tests.reliability.support import run_cli

    screen = tmp_path / "screen.txt"
    simulate_trigenic(n=2000, seed=0).write(screen)
    app = make_app()
    args = ["diagnose", "--go", "torchcell-2017", "--compare-go", "torchcell-2017"]
    args += ["--data", str(screen), "--json"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    base = json.loads(res.output)
    guard, exact = base["rules"]["torchcell-index-guard"], base["rules"]["exact"]
    assert exact["hidden_genes"] == 0 and guard["hidden_genes"] > 0
    assert guard["distinct_inputs"] < exact["distinct_inputs"]
    hidden = base["hidden"]
    assert hidden["wild_type"] == guard["wildtype_inputs"] and hidden["listed"]
    assert all(t["term"].startswith("GO:") for g in hidden["listed"] for x in g["hidden"]
               for t in x["hidden_in"])  # fmt: skip
    vocab = recipe_vocabulary(load_ontology_with_datasets("torchcell-2017"))
    mine = tmp_path / "vocab.txt"
    mine.write_text("\n".join(vocab[::-1]) + "\n")
    moved = json.loads(CliRunner().invoke(app, [*args, "--vocabulary", str(mine)]).output)
    assert moved["vocabulary"] == {"source": str(mine), "size": len(vocab)}
    assert moved["rules"]["exact"] == exact  # exact deletions do not read positions
    assert moved["rules"]["torchcell-index-guard"] != guard
    table = CliRunner().invoke(app, [*args[:-1], "--vocabulary", str(mine)],
                               env={"COLUMNS": "200"})  # fmt: skip
    assert table.exit_code == 0 and "reach the model as wild type" in table.output
    many = [*args, "--batches", "200", "--design", "query-pair", "--vocabulary", str(mine)]
    res = CliRunner().invoke(app, many)
    assert res.exit_code == 0, res.output
    dist = json.loads(res.output)
    assert dist["batches"] == 200 and dist["design"] == "query-pair"
    assert list(dist["orders"]) == [f"file {mine}", "shuffled (seed 0)", "shuffled (seed 1)"]
    for rule in ("exact", "torchcell-index-guard"):
        assert {"median", "q05", "q95"} <= set(dist["rules"][rule]["ceiling"])
        assert {"median", "q05", "q95"} <= set(dist["rules"][rule]["distinct_inputs"])
    table = CliRunner().invoke(app, [*args[:-1], "--batches", "50"], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "ceilings over 50 batches" in table.output
    short = tmp_path / "short.txt"
    short.write_text("\n".join(vocab[:100]) + "\n")
    bad = run_cli([*args, "--vocabulary", str(short)])
    assert bad.code == 2 and bad.out == ""
    assert bad.err.count("\n") == 1 and bad.err.startswith(f"error: {short}: ")
    assert "genes of --go torchcell-2017 are not in the vocabulary" in bad.err
