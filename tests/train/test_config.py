"""Config validation: one-line errors, exit code 2, and no run directory left behind."""

from __future__ import annotations

import pytest

from dcellx.errors import ConfigError
from dcellx.train.compare import parse_grid
from dcellx.train.config import make_run_config, parse_assignments, route
from tests.train.conftest import run_cli

BAD = {
    "unknown variant": ["--variant", "binarry"],
    "negative epochs": ["--epochs", "-5"],
    "missing data": ["--data", "no/such/genotypes.txt"],
    "unknown --set key": ["--set", "lrr=0.1"],
    "bad model value": ["--alpha", "-1"],
}


def test_cli_config_errors_are_one_line_and_create_nothing(tmp_path, cli_env) -> None:
    runs = tmp_path / "runs"
    for what, extra in BAD.items():
        args = ["overfit", "--go", "dna-repair", "--runs-dir", str(runs), "-q", *extra]
        res = run_cli(args, cli_env)
        assert res.returncode == 2, (what, res.stdout, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (what, res.stderr)
        assert not runs.exists(), what


def test_config_resolution() -> None:
    cfg = make_run_config(go="dna-repair", variant="embedding", alpha=None, model={"alpha": 0.0})
    assert cfg.model.variant == "embedding" and cfg.model.alpha == 0.0
    assert cfg.epochs == 500 and cfg.early_stopping_patience is None and cfg.threads >= 1
    train = make_run_config(mode="train")
    assert train.epochs == 100 and train.early_stopping_patience == 10
    # --set routes to run, model or ontology fields; sets win over flags
    cfg = make_run_config(
        lr=1e-3, sets={"lr": 0.01, "norm": "layer", "min_genes": 4, "model.depth": 2}
    )
    assert cfg.lr == 0.01 and cfg.model.norm == "layer" and cfg.model.depth == 2
    assert cfg.ontology.min_genes == 4
    cfg = make_run_config(sets={"preset": "lua"})  # a preset re-applies its values
    assert cfg.model.preset == "lua" and cfg.model.width_floor == 10
    assert make_run_config(variant="mlp").model.variant == "binary"


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="variant"):
        make_run_config(variant="nope")
    with pytest.raises(ConfigError, match="epochs"):
        make_run_config(epochs=0)
    with pytest.raises(ConfigError, match="early stopping"):
        make_run_config(early_stopping_patience=3)
    with pytest.raises(ConfigError, match="batch_size"):
        make_run_config(batch_size=1)
    with pytest.raises(ConfigError, match="device"):
        make_run_config(device="gpu0")
    with pytest.raises(ConfigError, match="key=value"):
        parse_assignments(["alpha"])
    with pytest.raises(ConfigError, match="unknown config key"):
        route("model.nope")


def test_parse_values_and_grid() -> None:
    assert parse_assignments(["alpha=0", "lr=1e-4", "batch_seed=null", "norm=layer"]) == {
        "alpha": 0, "lr": 1e-4, "batch_seed": None, "norm": "layer"
    }  # fmt: skip
    assert parse_grid(["norm=batch,layer,none", "alpha=0.3,0"]) == {
        "norm": ["batch", "layer", "none"], "alpha": [0.3, 0]
    }  # fmt: skip
    with pytest.raises(ConfigError):
        parse_grid(["nonsense=1,2"])


def test_deletion_rule_flag_reaches_the_run_config(tmp_path) -> None:
    """``--deletion-rule`` is a model lever of overfit/train/compare and the slurm commands, and
    the resolved rule is recorded in config.json with the rest of the model."""
    import json

    from typer.testing import CliRunner

    from dcellx_cli.main import app

    for cmd in (["overfit"], ["train"], ["compare"], ["slurm", "overfit"], ["slurm", "compare"]):
        res = CliRunner().invoke(app, [*cmd, "--help"], env={"COLUMNS": "200"})
        assert res.exit_code == 0 and "--deletion-rule" in res.output, cmd
    runs = tmp_path / "runs"
    args = ["overfit", "--go", "dna-repair", "--preset", "dcell-new", "--epochs", "2"]
    args += ["--batch-size", "8", "--deletion-rule", "torchcell-index-guard"]
    res = CliRunner().invoke(app, [*args, "--runs-dir", str(runs), "-q"])
    assert res.exit_code == 0, res.output
    (run_dir,) = runs.iterdir()
    model = json.loads((run_dir / "config.json").read_text())["run"]["model"]
    assert model["preset"] == "dcell-new" and model["deletion_rule"] == "torchcell-index-guard"
    assert model["gene_state"] == "present-one" and model["root_extra_input"] == "constant-one"
    cfg = make_run_config(preset="dcell-new", model={"deletion_rule": "torchcell-index-guard"})
    assert cfg.model.deletion_rule == "torchcell-index-guard"
    with pytest.raises(ConfigError, match="deletion_rule"):
        make_run_config(model={"deletion_rule": "loose"})


def test_min_genes_zero_is_a_value_not_a_missing_flag() -> None:
    from dcellx.train.config import make_run_config

    cfg = make_run_config("paper", ontology={"min_genes": 0}, go="dna-repair")
    assert cfg.ontology.min_genes == 0
    assert make_run_config("paper", ontology={"min_genes": None}).ontology.min_genes is None


def test_gpu_fields_default_off_validate_and_are_recorded() -> None:
    """--cuda-graph / --tf32 / --precision / --deterministic: off by default, so a config.json
    written before them loads as what it ran with; --cuda-graph names itself off CUDA; a run
    resumed with one it did not begin with is refused (they change what it computes)."""
    import json
    from pathlib import Path

    from dcellx.train.config import load_run_config, resume_changes

    cfg = make_run_config(go="dna-repair")
    assert (cfg.cuda_graph, cfg.tf32, cfg.precision, cfg.deterministic) == (
        False, False, "float32", False
    )  # fmt: skip
    old = Path(__file__).parents[1] / "fixtures/rundirs-v1/runs/20261201-210029-binary-s4-02dc"
    recorded = json.loads((old / "config.json").read_text())["run"]
    assert "cuda_graph" not in recorded and "precision" not in recorded
    loaded = load_run_config(recorded)
    assert (loaded.cuda_graph, loaded.tf32, loaded.precision, loaded.deterministic) == (
        False, False, "float32", False
    )  # fmt: skip
    gpu = make_run_config(device="cuda", cuda_graph=True, tf32=True, precision="bf16")
    dumped = gpu.model_dump(mode="json")
    assert dumped["cuda_graph"] and dumped["tf32"] and dumped["precision"] == "bf16"
    assert load_run_config(dumped) == gpu  # config.json reads back as it was written
    with pytest.raises(ConfigError, match=r"cuda_graph: --cuda-graph needs --device cuda"):
        make_run_config(cuda_graph=True)
    with pytest.raises(ConfigError, match=r"cuda_graph: --cuda-graph needs --device cuda"):
        make_run_config(device="cpu", sets={"cuda_graph": True})
    with pytest.raises(ConfigError, match="precision"):
        make_run_config(precision="fp16")
    # the bucket plan: the device's own unless named, recorded as resolved; an old run's as it ran
    assert (cfg.buckets, gpu.buckets, dumped["buckets"]) == ("cost-v1", "gpu-v0", "gpu-v0")
    assert make_run_config(device="cuda:1", buckets="cost-v1").buckets == "cost-v1"
    assert loaded.buckets == "ratio-1.3"
    assert resume_changes(loaded, old, fields={"tf32": False}) == {}
    with pytest.raises(ConfigError, match=r"^--tf32 contradicts .* tf32 = False"):
        resume_changes(loaded, old, fields={"tf32": True})
    with pytest.raises(ConfigError, match=r"^--precision bf16 contradicts"):
        resume_changes(loaded, old, fields={"precision": "bf16"})


def test_a_runs_config_json_records_the_gpu_fields(tmp_path) -> None:
    """As every run field: given or not, each is in config.json as the run resolved it."""
    import json

    from typer.testing import CliRunner

    from dcellx_cli.main import app

    runs = tmp_path / "runs"
    args = ["overfit", "--go", "dna-repair", "--epochs", "1", "--batch-size", "8"]
    res = CliRunner().invoke(app, [*args, "--deterministic", "--runs-dir", str(runs), "-q"])
    assert res.exit_code == 0, res.output
    (run_dir,) = runs.iterdir()
    run = json.loads((run_dir / "config.json").read_text())["run"]
    assert (run["cuda_graph"], run["tf32"], run["precision"]) == (False, False, "float32")
    assert run["deterministic"] is True and run["buckets"] == "cost-v1"
