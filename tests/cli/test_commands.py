"""The CLI's shape: installed as ``dcellx_cli``, recipes shipped as package data, every run command
taking the same options (declared once), and one sweep planner behind ``compare`` and the SLURM
arrays. Nothing here trains (the end-to-end runs are in tests/train, tests/scale)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from dcellx.errors import ConfigError
from dcellx.nn.config import ModelConfig
from dcellx.ontology.recipe import RECIPE_DIR, load_recipe
from dcellx.scale.task import load_plan
from dcellx.train.compare import RunSpec, plan_cli_sweep
from dcellx.train.config import ALL_VARIANTS, RunConfig
from dcellx_cli.common import choices, compact_names, described
from dcellx_cli.main import app
from dcellx_cli.run_options import MODEL_FLAGS, RunFlags

ONTOLOGY_FLAGS = ("go", "obo", "gaf", "date_cutoff", "min_genes", "universe")


def _command(*path: str) -> Any:
    cmd = typer.main.get_command(app)
    for name in path:
        cmd = cmd.commands[name]  # type: ignore[attr-defined]
    return cmd


def _params(cmd: Any) -> dict[str, tuple]:
    return {p.name: (tuple(p.opts), tuple(p.secondary_opts), p.help, p.default) for p in cmd.params}


def test_console_script_is_dcellx_cli() -> None:
    scripts = importlib.metadata.entry_points(group="console_scripts")
    (ep,) = [e for e in scripts if e.name == "dcellx"]
    assert ep.value == "dcellx_cli.main:main"
    assert ep.load() is __import__("dcellx_cli.main").main.main


def test_recipes_live_at_the_top_level(tmp_path: Path) -> None:
    # a source checkout reads ontologies/ itself; the wheel installs it as dcellx/ontology/recipes
    # (scripts/check_wheel.sh checks that side)
    assert RECIPE_DIR == Path(__file__).resolve().parents[2] / "ontologies"
    names = {p.stem for p in RECIPE_DIR.glob("*.toml")}
    assert {"2017", "2018", "latest", "dna-repair", "torchcell-latest"} <= names
    assert load_recipe("dna-repair").base_dir == str(RECIPE_DIR)
    # a user's recipe by path still works, its relative sources resolving beside it
    own = tmp_path / "mine.toml"
    own.write_text('name = "mine"\nontology = "onto.obo"\n')
    recipe = load_recipe(str(own))
    assert recipe.name == "mine" and recipe.base_dir == str(tmp_path.resolve())
    with pytest.raises(ConfigError, match="unknown ontology recipe 'nope'; known: 2017, 2018"):
        load_recipe("nope")


# config show resolves what the run commands would run: the same options
RUN_COMMANDS = [("overfit",), ("train",), ("compare",), ("config", "show")]
ARRAY_COMMANDS = [("slurm", "compare"), ("slurm", "overfit"), ("slurm", "train")]


def test_run_commands_take_the_same_run_options() -> None:
    """overfit / train / compare / slurm arrays: one option list, in one order, same help."""
    reference = _params(_command("overfit"))
    for name in ("resume", "ddp", "sync_bn"):
        del reference[name]
    names = list(reference)
    assert names[: len(ONTOLOGY_FLAGS)] == list(ONTOLOGY_FLAGS) and names[-2:] == ["set_", "quiet"]
    assert set(MODEL_FLAGS) <= set(names)
    for path in RUN_COMMANDS + ARRAY_COMMANDS:
        params = _params(_command(*path))
        tail = dict(list(params.items())[-len(names) :])
        assert tail == reference, path


def test_ontology_options_are_the_same_everywhere() -> None:
    run = _params(_command("train"))
    for sub in ("build", "stats", "export"):
        params = _params(_command("ontology", sub))
        for flag in ONTOLOGY_FLAGS:
            opts, secondary, help_, default = params[flag]
            assert (opts, secondary, help_) == run[flag][:3], (sub, flag)
            assert default == ("2017" if flag == "go" else None)


def test_run_flags_split_the_parsed_options() -> None:
    opts = {name: None for name in _params(_command("overfit"))}
    opts |= {"go": "dna-repair", "gaf": Path("a.gaf"), "alpha": 0.5, "epochs": 3, "quiet": True}
    opts |= {"set_": ["lr=0.01"], "resume": None, "ddp": False, "sync_bn": False}
    del opts["resume"], opts["ddp"], opts["sync_bn"]
    flags = RunFlags.parse(opts)
    spec = flags.spec()
    assert spec.preset == "paper" and spec.model == {"alpha": 0.5}
    assert spec.ontology == {"annotations": "a.gaf"} and spec.sets == {"lr": 0.01}
    assert spec.fields == {"go": "dna-repair", "epochs": 3, "quiet": True}
    assert opts["go"] == "dna-repair" and "set_" in opts  # the caller's dict is left alone
    # --resume checks the flags alone: no preset where none was given, -q aside
    resumed = flags.resume_flags()
    assert resumed["preset"] is None and resumed["fields"] == {"go": "dna-repair", "epochs": 3}
    with pytest.raises(ConfigError, match="--config with --resume"):
        RunFlags.parse({**opts, "config_file": Path("run.toml")}).resume_flags()


def test_help_names_what_the_config_accepts() -> None:
    """A help text lists a flag's choices and default as the config declares them (they are read
    from it), and one naming a choice the config lacks does not build."""
    params = {p.name: p.help for p in _command("overfit").params}
    owners = {"preset": ModelConfig, "norm": ModelConfig, "aux_reduce": ModelConfig}
    owners |= {"deletion_rule": ModelConfig, "scheduler": RunConfig, "label_norm": RunConfig}
    owners |= {"unknown_genes": RunConfig, "duplicates": RunConfig, "keep_checkpoints": RunConfig}
    owners |= {"precision": RunConfig}
    for name, model in owners.items():
        for choice in choices(model, name):
            assert choice in params[name], (name, choice)
    assert params["deletion_rule"].startswith("exact, or torchcell-index-guard (a deletion")
    assert params["keep_checkpoints"].startswith("What a finished run keeps: best (weights-best")
    assert params["preset"].endswith("torchcell or dcell-new [paper].")
    names = "embedding embedding-pooled embedding-deepset embedding-attention"
    shown = params["variant"].replace("embedding[-pooled|-deepset|-attention]", names)
    assert all(variant in shown for variant in ALL_VARIANTS), shown
    assert compact_names(("binary", "embedding", "embedding-pooled", "mlp")) == (
        "binary, embedding[-pooled], mlp"
    )
    with pytest.raises(AssertionError, match="norm: help names"):
        described(ModelConfig, "norm", {"batch": "", "layer": ""})


def test_plan_cli_sweep() -> None:
    spec = RunSpec(fields={"go": "dna-repair", "seed": 5, "variant": "embedding"})
    sweep = plan_cli_sweep(spec, "overfit", 2, ["lr=0.1,0.2"], "binary, mlp")
    assert sweep.variants == ["binary", "mlp"] and sweep.seeds == [5, 6]
    assert sweep.grid == {"lr": [0.1, 0.2]} and sweep.base.fields["keep_checkpoints"] == "none"
    array = plan_cli_sweep(spec, "train", 1, None, threads=4)
    assert array.variants == ["embedding"] and array.seeds == [5]
    assert "keep_checkpoints" not in array.base.fields and array.base.fields["threads"] == 4
    assert spec.fields == {"go": "dna-repair", "seed": 5, "variant": "embedding"}  # unchanged
    with pytest.raises(ConfigError, match="--mode must be overfit or train, not 'fit'"):
        plan_cli_sweep(spec, "fit", 1, None, "binary")
    with pytest.raises(ConfigError, match="--seeds must be at least 1, not 0"):
        plan_cli_sweep(spec, "overfit", 0, None, "binary")


def test_slurm_compare_writes_the_plan_compare_would_run(tmp_path: Path) -> None:
    sweep_dir = tmp_path / "sweep"
    args = ["--go", "dna-repair", "--variants", "binary,mlp", "--seeds", "2", "--seed", "3"]
    args += ["--grid", "alpha=0,0.5", "--epochs", "2", "--cpus", "2", "--runs-dir", str(tmp_path)]
    res = CliRunner().invoke(app, ["slurm", "compare", *args, "--sweep-dir", str(sweep_dir)])
    assert res.exit_code == 0, res.output
    opts = {name: None for name in _params(_command("overfit"))}
    for name in ("resume", "ddp", "sync_bn"):
        del opts[name]
    opts |= {"go": "dna-repair", "seed": 3, "epochs": 2, "runs_dir": str(tmp_path)}
    opts["quiet"] = False
    spec = RunFlags.parse(opts).spec()
    expected = plan_cli_sweep(spec, "overfit", 2, ["alpha=0,0.5"], "binary,mlp", threads=2)
    assert load_plan(sweep_dir) == expected
    bad = CliRunner().invoke(app, ["slurm", "compare", *args, "--mode", "fit"])
    assert bad.exit_code != 0 and "--mode must be overfit or train" in str(bad.exception)
