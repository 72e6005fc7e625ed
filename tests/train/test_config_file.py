"""``--config FILE``: a run's fields from a TOML or JSON file beneath the flags. A finished run's
``config.json`` reruns it exactly (same metrics.csv apart from the seconds, CPU, same threads);
flags override the file; ``dcellx config show`` names each value's source; a bad file is one
line naming file and line. Real runs on the DNA-repair data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dcellx.errors import InputError
from dcellx.nn.config import make_config
from dcellx.scale.task import load_plan
from dcellx.train.compare import RunSpec
from dcellx.train.config_file import with_config_file
from dcellx_cli.main import app
from tests.train.conftest import metrics_without_seconds, only_run, run_cli

OVERFIT = ["overfit", "--go", "dna-repair", "--epochs", "30", "--seed", "7", "--alpha", "0.1"]
OVERFIT += ["--lr", "2e-3", "--threads", "1", "-q"]


def _show(*args: str) -> dict:
    res = CliRunner().invoke(app, ["config", "show", "--json", *args])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


@pytest.fixture(scope="module")
def finished(tmp_path_factory, _train_cache) -> Path:
    """A finished overfit run with flags off the defaults (in-process: same arithmetic)."""
    runs = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DCELLX_CACHE", str(_train_cache))
        res = CliRunner().invoke(app, [*OVERFIT, "--runs-dir", str(runs)])
    assert res.exit_code == 0, res.output
    return only_run(runs)


def test_a_finished_runs_config_json_reruns_it(finished, cli_env) -> None:
    res = run_cli(["overfit", "--config", str(finished / "config.json"), "-q"], cli_env)
    assert res.returncode == 0, res.stderr
    (again,) = [p for p in finished.parent.iterdir() if p != finished]
    assert metrics_without_seconds(again) == metrics_without_seconds(finished)
    ran = [json.loads((d / "config.json").read_text()) for d in (finished, again)]
    assert ran[0]["run"] == ran[1]["run"]
    assert ran[0]["ontology"]["content_hash"] == ran[1]["ontology"]["content_hash"]


def test_a_train_run_reruns_from_its_config_json(tmp_path, cli_env, small_data) -> None:
    runs = tmp_path / "runs"
    args = ["train", "--go", "dna-repair", "--data", str(small_data), "--split", "genes"]
    args += ["--epochs", "3", "--seed", "2", "--threads", "1", "--runs-dir", str(runs), "-q"]
    assert run_cli(args, cli_env).returncode == 0
    first = only_run(runs)
    res = run_cli(["train", "--config", str(first / "config.json"), "-q"], cli_env)
    assert res.returncode == 0, res.stderr
    (again,) = [p for p in runs.iterdir() if p != first]
    assert metrics_without_seconds(again) == metrics_without_seconds(first)
    summaries = [json.loads((d / "summary.json").read_text()) for d in (first, again)]
    assert summaries[0]["metrics"] == summaries[1]["metrics"]
    assert summaries[0]["split"] == summaries[1]["split"]


def test_flags_override_the_file_and_show_says_where(tmp_path) -> None:
    toml = tmp_path / "experiment.toml"
    toml.write_text(
        '# a TOML subset\ngo = "dna-repair"\nepochs = 12\nlr = 2e-3\nalpha = 0.1\n'
        '[model]\nnorm = "layer"\n[ontology]\nmin_genes = 4\n'
    )
    shown = _show("--config", str(toml), "--epochs", "20", "--set", "model.l2=1e-5")
    cfg, src = shown["config"], shown["sources"]
    assert (cfg["go"], cfg["epochs"], cfg["lr"], cfg["ontology"]["min_genes"]) == (
        "dna-repair", 20, 0.002, 4,
    )  # fmt: skip
    assert (cfg["model"]["alpha"], cfg["model"]["norm"], cfg["model"]["l2"]) == (0.1, "layer", 1e-5)
    assert {k: v for k, v in src.items() if v in ("file", "flag")} == {
        "go": "file", "lr": "file", "model.alpha": "file", "model.norm": "file",
        "ontology.min_genes": "file", "epochs": "flag", "model.l2": "flag",
    }  # fmt: skip
    assert src["seed"] == "default" and src["model.width_floor"] == "preset"
    assert src["mode"] == "default" and cfg["mode"] == "overfit"
    # JSON too, and the same values as the command line alone gives them
    js = tmp_path / "experiment.json"
    js.write_text(json.dumps({"go": "dna-repair", "epochs": 12, "model": {"alpha": 0.1}}))
    alone = _show("--go", "dna-repair", "--epochs", "12", "--alpha", "0.1")["config"]
    assert _show("--config", str(js))["config"] == alone


def test_a_recorded_config_under_other_flags(finished) -> None:
    """--seed moves the split seed the run had derived from its seed; --preset keeps only what
    the run changed on top of its own preset (--alpha 0.1), not every paper value."""
    recorded = str(finished / "config.json")
    shown = _show("--config", recorded)
    assert shown["sources"]["split_seed"] == "default" and shown["config"]["split_seed"] == 7
    assert shown["sources"]["mode"] == "file"
    moved = _show("--config", recorded, "--seed", "9")["config"]
    assert (moved["seed"], moved["split_seed"], moved["epochs"]) == (9, 9, 30)
    lua = _show("--config", recorded, "--preset", "lua")
    assert lua["config"]["model"] == make_config("lua", alpha=0.1).model_dump(mode="json")
    assert (lua["sources"]["model.alpha"], lua["sources"]["model.width_floor"]) == (
        "file",
        "preset",
    )


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("a.toml", 'go = "dna-repair"\nepochs = [\n', ": invalid TOML: "),
        ("b.json", '{"go": "dna-repair",\n "epochs": }', ":2: invalid JSON: Expecting value"),
        ("c.toml", 'go = "dna-repair"\n\n[model]\nalpa = 0.1\n', ":4: unknown config key"),
        ("d.toml", 'epochs = 12\nlr = "fast"\n', ":2: lr: Input should be a valid number"),
        ("e.toml", 'mode = "train"\n', ":1: mode = 'train', but this is `overfit`"),
    ],
    ids=["toml-syntax", "json-syntax", "unknown-key", "bad-value", "other-mode"],
)
def test_a_bad_file_is_one_line_naming_it(tmp_path, name, text, problem) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError) as err:
        with_config_file(path, RunSpec(), None, "overfit")[0]
    assert str(err.value).startswith(f"{path}{problem}")
    assert len(str(err.value).splitlines()) == 1


def test_the_command_line_refuses_a_bad_file_before_any_run(tmp_path, cli_env) -> None:
    runs = tmp_path / "runs"
    bad = tmp_path / "bad.toml"
    bad.write_text('go = "dna-repair"\nepochs = 0\n')
    res = run_cli(["overfit", "--config", str(bad), "--runs-dir", str(runs)], cli_env)
    assert res.returncode == 2
    assert (
        res.stderr
        == f"error: {bad}:2: epochs: Input should be greater than or equal to 1 (got 0)\n"
    )
    assert not runs.exists()
    missing = run_cli(["train", "--config", str(tmp_path / "none.toml")], cli_env)
    assert (missing.returncode, missing.stderr) == (
        2, f"error: {tmp_path / 'none.toml'}: config file not found\n",
    )  # fmt: skip
    res = run_cli(["overfit", "--resume", str(runs), "--config", str(bad)], cli_env)
    assert res.returncode == 2 and "--config with --resume" in res.stderr


def test_compare_and_slurm_take_the_file(tmp_path, cli_env) -> None:
    toml = tmp_path / "sweep.toml"
    toml.write_text('go = "dna-repair"\nepochs = 3\nthreads = 1\nalpha = 0.0\n')
    res = run_cli(["compare", "--config", str(toml), "--variants", "binary", "--seeds", "2",
                   "--runs-dir", str(tmp_path / "runs"), "-q"], cli_env)  # fmt: skip
    assert res.returncode == 0, res.stderr
    sweep = only_run(tmp_path / "runs")
    ran = [json.loads(p.read_text())["run"] for p in sweep.glob("*/config.json")]
    assert len(ran) == 2 and {(r["epochs"], r["model"]["alpha"], r["go"]) for r in ran} == {
        (3, 0.0, "dna-repair")
    }
    out = CliRunner().invoke(app, ["slurm", "compare", "--config", str(toml), "--variants",
                                   "binary", "--seeds", "1", "--epochs", "5", "--sweep-dir",
                                   str(tmp_path / "array")])  # fmt: skip
    assert out.exit_code == 0, out.output
    base = load_plan(tmp_path / "array").base
    assert (base.fields["epochs"], base.fields["go"], base.model["alpha"]) == (5, "dna-repair", 0.0)
