"""compare: variants x seeds (x grid) as run dirs in one sweep dir; CSVs, plot, collect."""

from __future__ import annotations

import csv
import shutil

from dcellx.train.compare import (
    RunSpec,
    collect,
    parse_grid,
    plan_cli_sweep,
    plan_sweep,
    run_sweep,
)
from tests.train.conftest import run_cli


def _csv(path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_compare_cli_two_variants_two_seeds(tmp_path, cli_env) -> None:
    args = ["compare", "--go", "dna-repair", "--variants", "binary,embedding", "--seeds", "2"]
    args += ["--epochs", "15", "--threads", "1", "--runs-dir", str(tmp_path / "runs"), "-q"]
    res = run_cli(args, cli_env)
    assert res.returncode == 0, res.stderr
    (sweep,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    assert "-compare-" in sweep.name
    runs = _csv(sweep / "compare.csv")
    assert [(r["variant"], r["seed"]) for r in runs] == [
        ("binary", "0"), ("binary", "1"), ("embedding", "0"), ("embedding", "1")
    ]  # fmt: skip
    assert all((sweep / r["run_id"] / "summary.json").exists() for r in runs)
    assert not list(sweep.glob("*/*.pt"))  # sweeps keep metrics, not weights
    summary = _csv(sweep / "summary.csv")
    assert [(g["variant"], g["n"]) for g in summary] == [("binary", "2"), ("embedding", "2")]
    for key in ("best_pearson_eval_bn", "final_pearson_train_bn", "seconds"):
        assert float(summary[0][f"{key}_mean"]) > 0 and summary[0][f"{key}_sd"] != ""
    assert "epochs_to_0.9_eval_bn_reached" in summary[0]
    assert (sweep / "compare.png").read_bytes()[:4] == b"\x89PNG"
    assert "embedding" in res.stdout  # the rich table


def test_grid_and_collect_reports_missing_and_failed(tmp_path) -> None:
    base = RunSpec(fields={"go": "dna-repair", "epochs": 5, "threads": 1})
    plan = plan_sweep(["binary"], [0], "overfit", parse_grid(["norm=batch,none"]), base)
    result = run_sweep(plan, runs_dir=tmp_path, quiet=True)
    assert [r["norm"] for r in result.runs] == ["batch", "none"]
    assert [g["norm"] for g in result.groups] == ["batch", "none"]
    assert not result.missing and not result.failed
    # one run unfinished, one deleted: collect rebuilds the tables and names both
    by_norm = {r["norm"]: result.sweep_dir / r["run_id"] for r in result.runs}
    (by_norm["batch"] / "summary.json").unlink()
    shutil.rmtree(by_norm["none"])
    again = collect(result.sweep_dir)
    assert again.runs == [] and again.failed == [by_norm["batch"].name]
    assert again.missing == [{"variant": "binary", "seed": 0, "norm": "none"}]
    # a SLURM-array style call runs just the missing point into the same sweep dir
    fixed = run_sweep(plan, sweep_dir=result.sweep_dir, points=[1], quiet=True)
    assert [r["norm"] for r in fixed.runs] == ["none"] and not fixed.missing


def test_every_point_of_a_sweep_runs_on_the_sweeps_device() -> None:
    """compare / slurm: the device and the CUDA options given once reach every planned run (and
    its config.json), a grid over the precision included; nothing checks for CUDA before a run."""
    fields = {"go": "dna-repair", "device": "cuda:0", "cuda_graph": True, "deterministic": True}
    plan = plan_cli_sweep(
        RunSpec(fields=fields), "overfit", 2, ["precision=float32,bf16"], "binary,additive"
    )
    configs = [plan.config(p, "sweep") for p in plan.points()]
    assert len(configs) == 8 and {c.device for c in configs} == {"cuda:0"}
    assert all(c.cuda_graph and c.deterministic for c in configs)
    assert {c.precision for c in configs} == {"float32", "bf16"}
    assert {c.buckets for c in configs} == {"gpu-v0"}
