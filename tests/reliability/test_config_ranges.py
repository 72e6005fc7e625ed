"""Issue 14 item 4: every field's range is validated in the pydantic models, so a value that
would crash after the run directory exists (``betas``, ``bn_eps``) or train to NaN and exit 0
(``--lr inf``, ``bn_momentum=5``) is one line and exit 2 before anything is written; the model and
optimiser are built before the run directory; a recipe whose filters leave no term below the root
is an error naming the recipe (and nothing is cached)."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
import torch

from dcellx.errors import ConfigError
from dcellx.nn.config import ModelConfig
from dcellx.train.config import RunConfig, make_run_config
from dcellx_cli.run_options import RunFlags
from tests.reliability.conftest import OVERFIT, compiled_ontologies, left_behind, refused


@pytest.mark.parametrize(
    ("flags", "line"),
    [
        (["--set", "betas=[2,0.999]"], "betas.0: Input should be less than 1 (got 2)"),
        (["--set", "betas=[0.9,-0.1]"], "betas.1: Input should be greater than or equal to 0"),
        (["--set", "model.bn_eps=-1"], "model.bn_eps: Input should be greater than 0 (got -1)"),
        (["--lr", "inf"], "lr: Input should be a finite number (got inf)"),
        (["--lr", "nan"], "lr: Input should be a finite number (got nan)"),
        (["--lr", "0"], "lr: Input should be greater than 0 (got 0.0)"),
        (["--set", "model.bn_momentum=5"], "model.bn_momentum: Input should be less than or equal"),
        (["--alpha", "inf"], "model.alpha: Input should be a finite number (got inf)"),
        (["--set", "checkpoint_seconds=inf"], "checkpoint_seconds: Input should be a finite"),
        (["--seed", "-1"], "seed: Input should be greater than or equal to 0 (got -1)"),
        (["--batch-seed", "-3"], "batch_seed: Input should be greater than or equal to 0"),
        (["--min-genes", "-1"], "ontology.min_genes: Input should be greater than or equal to 0"),
        (["--unknown-genes", "never"], "unknown_genes: Input should be 'warn', 'error' or"),
    ],
    ids=lambda v: v if isinstance(v, str) else " ".join(v),
)
def test_out_of_range_value_is_refused_before_the_run_directory(
    tmp_path: Path, cli, flags: list[str], line: str
) -> None:
    runs = tmp_path / "runs"
    got = refused(cli(*OVERFIT, "--epochs", "3", *flags, "--runs-dir", runs))
    assert got.startswith(f"error: {line}")
    assert not runs.exists() and left_behind(tmp_path, runs) == []


def _floats(model: type) -> list[str]:
    def is_float(t: object) -> bool:
        args = typing.get_args(t)
        return t is float or any(is_float(a) for a in args)

    return [n for n, f in model.model_fields.items() if is_float(f.annotation)]


def test_no_float_field_takes_inf_or_nan() -> None:
    """Every float lever of the run and of the model is finite-only."""
    run_floats, model_floats = _floats(RunConfig), _floats(ModelConfig)
    assert {"lr", "min_lr", "checkpoint_seconds", "val_fraction"} <= set(run_floats)
    assert {"bn_momentum", "bn_eps", "alpha", "l2", "width_multiplier"} <= set(model_floats)
    for bad in (float("inf"), float("nan")):
        for name in run_floats:
            value = [bad, 0.999] if name == "betas" else bad
            with pytest.raises(ConfigError, match=f"^{name}"):
                make_run_config(sets={name: value})
        for name in model_floats:
            with pytest.raises(ConfigError, match=f"^model.{name}"):
                make_run_config(sets={f"model.{name}": bad})


def test_valid_configs_resolve_as_before() -> None:
    """The new ranges hold every default and preset value: a valid config is unchanged."""
    cfg = make_run_config()
    assert cfg.betas == (0.9, 0.999) and cfg.lr == 1e-3 and cfg.seed == 0
    assert cfg.model.bn_momentum == 0.1 and cfg.model.bn_eps == 1e-5
    assert cfg.unknown_genes == "warn" and cfg.duplicates == "mean"
    for preset in ("paper", "lua", "torchcell", "dcell-new"):
        assert make_run_config(preset).model.preset == preset
    # flags not given resolve to the defaults the sweep plans record (sweep.json unchanged)
    opts = {"go": None, "preset": None, "obo": None, "gaf": None, "date_cutoff": None}
    opts |= {"min_genes": None, "universe": None, "set_": None}
    opts |= {k: None for k in ("norm", "bn_freeze_after", "width_floor", "width_multiplier")}
    opts |= {k: None for k in ("alpha", "aux_reduce", "alpha_decay_epochs", "depth", "l2")}
    opts |= {k: None for k in ("embedding_dim", "attention_heads", "deletion_rule")}
    spec = RunFlags.parse(opts).spec()
    assert spec.preset == "paper" and spec.fields == {"go": "2017"}


def test_the_optimiser_is_built_before_the_run_directory(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args, **kwargs):
        raise ConfigError("optimiser: refused by the test")

    monkeypatch.setattr(torch.optim, "Adam", refuse)
    runs = tmp_path / "runs"
    refused(cli(*OVERFIT, "--epochs", "2", "--runs-dir", runs), "optimiser: refused by the test")
    assert not runs.exists()


def test_a_root_only_ontology_names_the_recipe(
    tmp_path: Path, cli, reliability_env: Path, shared_data: Path
) -> None:
    """A topology file of one term (the DNA-repair root, its children cut): no subsystem."""
    head = (shared_data / "dcell/GO_0006281_topology").read_text().splitlines()[:2]
    topo = tmp_path / "root-only"
    topo.write_text("\n".join([*head, "TERMS:"]) + "\n")
    recipe = tmp_path / "root.toml"
    recipe.write_text(
        f'name = "root-only"\nontology = "{topo}"\nontology_format = "topology"\n'
        'universe = "annotated"\n'
    )
    runs = tmp_path / "runs"
    line = refused(cli("overfit", "--go", recipe, "--epochs", "2", "--runs-dir", runs, "-q"))
    assert line == (
        f"error: ontology recipe 'root-only' leaves no term below the root GO:0006281 in {topo}: "
        "DCell has no subsystem to learn; lower --min-genes or choose another recipe"
    )
    assert not runs.exists() and compiled_ontologies(reliability_env) == []


@pytest.mark.slow
def test_min_genes_above_every_term_names_the_recipe(
    tmp_path: Path, cli, reliability_env: Path
) -> None:
    """The issue's case: ``--go 2017 --min-genes 5000`` (the real 2017 build, ~15 s)."""
    runs = tmp_path / "runs"
    args = ["overfit", "--go", "2017", "--min-genes", "5000", "--epochs", "2", "--threads", "1"]
    line = refused(cli(*args, "--runs-dir", runs, "-q"))
    assert line == (
        "error: ontology recipe '2017' leaves no term below the root GO:ROOT after its filters "
        "(evidence, containment, redundancy; min_genes=5000): DCell has no subsystem to learn; "
        "lower --min-genes or choose another recipe"
    )
    assert not runs.exists() and compiled_ontologies(reliability_env) == []
