"""``--max-steps``: a run stops after that many optimiser steps in all (train: minibatches, overfit:
epochs), the epoch it ends in scored on the steps it took; counted across ``--resume``, so a run
killed and resumed ends where an uninterrupted one does, with the same ``metrics.csv``. Real
DNA-repair genotypes (the 400-genotype file: 360 train rows, 12 minibatches of 32 per epoch).

The signals are raised inside the run at a chosen step (``DCELLX_TEST_SIGNAL``), as in
tests/train/test_resume.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dcellx.errors import ConfigError
from dcellx.train import checkpoint, make_run_config, run
from dcellx.train.signals import TEST_ENV
from tests.train.conftest import metrics_without_seconds, only_run, run_cli

STEPS_PER_EPOCH = 12  # ceil(360 / 32); the last minibatch holds 8 rows


def _cfg(runs: Path, data: Path, **kw):
    fields = dict(mode="train", go="dna-repair", data=str(data), epochs=10, threads=1, seed=2)
    return make_run_config(runs_dir=str(runs), quiet=True, **{**fields, **kw})


def _args(data: Path, *extra: str) -> list[str]:
    args = ["train", "--go", "dna-repair", "--data", str(data), "--epochs", "10"]
    return [*args, "--threads", "1", "--seed", "2", *extra]


@pytest.fixture(scope="module")
def capped(tmp_path_factory, small_data) -> Path:
    """The uninterrupted run: 10 epochs planned, 27 steps allowed (2 epochs and 3 steps)."""
    runs = tmp_path_factory.mktemp("capped")  # its final checkpoint is inspected: kept
    return run(_cfg(runs, small_data, max_steps=27, keep_checkpoints="last")).run_dir


def test_train_stops_inside_an_epoch_and_says_why(capped, tmp_path, small_data) -> None:
    summary = json.loads((capped / "summary.json").read_text())
    assert summary["status"] == "max_steps"
    assert summary["stop_rule"] == "max_steps: 27 optimiser steps"
    assert (summary["steps"], summary["max_steps"], summary["epochs"]) == (27, 27, 3)
    assert summary["epochs_planned"] == 10
    assert {k: v["n"] for k, v in summary["metrics"].items()} == {"train": 360, "val": 40}
    assert json.loads((capped / "config.json").read_text())["run"]["max_steps"] == 27
    state = checkpoint.load(capped / "checkpoint-last.pt")
    assert (state["epoch"], state["loop"]["steps"], state["loop"]["step"]) == (3, 27, 0)
    # the epochs before the cut are those of a run without it: max_steps changes nothing else
    free = run(_cfg(tmp_path, small_data, epochs=2)).run_dir
    rows = metrics_without_seconds(capped)
    assert len(rows) == 1 + 3 and rows[:3] == metrics_without_seconds(free)
    assert json.loads((free / "summary.json").read_text())["steps"] == 2 * STEPS_PER_EPOCH


def test_max_steps_at_an_epoch_end_and_beyond_the_epochs(tmp_path, small_data) -> None:
    exact = run(_cfg(tmp_path / "a", small_data, epochs=3, max_steps=2 * STEPS_PER_EPOCH))
    assert (exact.summary["status"], exact.summary["epochs"]) == ("max_steps", 2)
    assert len(metrics_without_seconds(exact.run_dir)) == 1 + 2
    # more steps than the epochs hold: the epochs end the run
    loose = run(_cfg(tmp_path / "b", small_data, epochs=2, max_steps=1000))
    assert (loose.summary["status"], loose.summary["steps"]) == ("completed", 2 * STEPS_PER_EPOCH)


@pytest.mark.parametrize("at", ["SIGTERM@2.5", "SIGTERM@3.3"], ids=["mid-run", "last-step"])
def test_killed_and_resumed_ends_where_the_uninterrupted_run_does(
    capped, tmp_path, cli_env, small_data, at
) -> None:
    """Stopped mid-epoch (16 steps taken), or right after the 27th and last step (the cut epoch
    is complete and checkpointed, so the resumed process takes no step at all)."""
    runs = tmp_path / "runs"
    res = run_cli([*_args(small_data, "--max-steps", "27"), "--runs-dir", str(runs), "-q"],
                  {**cli_env, TEST_ENV: at})  # fmt: skip
    assert res.returncode == 143, res.stderr
    d = only_run(runs)
    taken = checkpoint.load(d / "checkpoint-last.pt")["loop"]["steps"]
    assert taken == {"SIGTERM@2.5": STEPS_PER_EPOCH + 5, "SIGTERM@3.3": 27}[at]
    res = run_cli(["train", "--resume", str(d), "-q"], cli_env)
    assert res.returncode == 0, res.stderr
    assert metrics_without_seconds(d) == metrics_without_seconds(capped)
    summary = json.loads((d / "summary.json").read_text())
    assert (summary["status"], summary["steps"]) == ("max_steps", 27)


def test_max_steps_can_grow_on_resume_but_not_shrink(capped, tmp_path, cli_env, small_data):
    runs = tmp_path / "runs"
    args = [*_args(small_data, "--max-steps", "20"), "--runs-dir", str(runs), "-q"]
    assert run_cli(args, {**cli_env, TEST_ENV: "SIGTERM@2.5"}).returncode == 143
    d = only_run(runs)
    res = run_cli(["train", "--resume", str(d), "--max-steps", "10", "-q"], cli_env)
    assert res.returncode == 2
    assert f"--max-steps 10: {d} has already taken 17 steps" in res.stderr
    res = run_cli(["train", "--resume", str(d), "--max-steps", "27"], cli_env)
    assert res.returncode == 0, res.stderr
    assert f"{d}: resuming with max_steps 20 -> 27 (config.json updated)" in res.stdout
    assert json.loads((d / "config.json").read_text())["run"]["max_steps"] == 27
    assert metrics_without_seconds(d) == metrics_without_seconds(capped)


def test_overfit_counts_one_step_per_epoch(tmp_path) -> None:
    def overfit(name: str, **kw):
        cfg = make_run_config(
            go="dna-repair", epochs=20, seed=1, threads=1, quiet=True,
            runs_dir=str(tmp_path / name), **kw,
        )  # fmt: skip
        return run(cfg)

    capped, full = overfit("capped", max_steps=7), overfit("full")
    assert (capped.summary["status"], capped.summary["epochs"]) == ("max_steps", 7)
    assert capped.summary["steps"] == 7 and full.summary["steps"] == 20
    assert metrics_without_seconds(capped.run_dir) == metrics_without_seconds(full.run_dir)[:8]
    assert full.summary["status"] == "completed" and full.summary["max_steps"] is None


def test_max_steps_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="max_steps"):
        make_run_config(go="dna-repair", max_steps=0)
