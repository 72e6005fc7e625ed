"""``dcellx runs``: one row per run or sweep, read from real run directories made by the CLI on
the DNA-repair data: finished (overfit, train), interrupted (SIGTERM, checkpoint written), failed
(SIGKILL before any checkpoint), a sweep, and a run whose lock another live process holds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dcellx.train.runlist import list_runs, select
from dcellx.train.signals import TEST_ENV
from tests.train.conftest import ROOT, run_cli

OVERFIT = ["overfit", "--go", "dna-repair", "--threads", "1", "-q"]


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    return {
        **os.environ,
        "DCELLX_CACHE": str(tmp_path_factory.mktemp("cache")),
        "PYTHONPATH": str(ROOT),
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory, env, small_data, small_test_data) -> dict[str, Path]:
    """A runs directory holding one run or sweep of each kind; name -> its directory."""
    root = tmp_path_factory.mktemp("runs")

    def made(args: list[str], code: int = 0, signal_at: str | None = None) -> Path:
        before = set(root.iterdir())
        extra = {TEST_ENV: signal_at} if signal_at else {}
        res = run_cli([*args, "--runs-dir", str(root)], {**env, **extra})
        assert res.returncode == code, res.stderr
        (new,) = set(root.iterdir()) - before
        return new

    return {
        "overfit": made([*OVERFIT, "--epochs", "6", "--seed", "1"]),
        "train": made(
            [
                "train",
                "--go",
                "dna-repair",
                "--data",
                str(small_data),
                "--test-data",
                str(small_test_data),
                "--epochs",
                "2",
                "--threads",
                "1",
                "--seed",
                "2",
                "--lr",
                "0.002",
                "-q",
            ]
        ),  # fmt: skip
        "interrupted": made([*OVERFIT, "--epochs", "50", "--seed", "3"], 143, "SIGTERM@4"),
        "failed": made([*OVERFIT, "--epochs", "50", "--seed", "4"], -signal.SIGKILL, "SIGKILL@4"),
        "sweep": made(
            [
                "compare",
                "--go",
                "dna-repair",
                "--variants",
                "binary,embedding",
                "--seeds",
                "2",
                "--epochs",
                "3",
                "--threads",
                "1",
                "-q",
            ]
        ),  # fmt: skip
    }


def _rows(root: Path) -> dict[str, dict]:
    return {r["id"]: r for r in list_runs(root)}


def test_each_run_and_sweep_is_one_row_with_its_status(runs) -> None:
    root = runs["overfit"].parent
    rows = _rows(root)
    assert set(rows) == {p.name for p in runs.values()}
    status = {name: rows[p.name]["status"] for name, p in runs.items()}
    assert status == {
        "overfit": "finished", "train": "finished", "interrupted": "interrupted",
        "failed": "failed", "sweep": "finished",
    }  # fmt: skip
    row = rows[runs["overfit"].name]
    summary = json.loads((runs["overfit"] / "summary.json").read_text())
    assert (row["command"], row["preset"], row["go"], row["variant"], row["seed"]) == (
        "overfit", "paper", "dna-repair", "binary", 1,
    )  # fmt: skip
    assert (row["epochs"], row["steps"], row["ended"]) == (6, 6, "completed")
    assert row["best_pearson"] == summary["best_pearson_eval_bn"]
    assert row["final_pearson"] == summary["final_pearson_eval_bn"]
    assert row["seconds"] == summary["seconds"]
    train = rows[runs["train"].name]
    train_summary = json.loads((runs["train"] / "summary.json").read_text())
    assert train["command"] == "train" and train["steps"] == train_summary["steps"] == 2 * 12
    assert train["test_pearson"] == train_summary["test_pearson"] is not None
    # an unfinished run: what its metrics.csv holds so far
    stopped = rows[runs["interrupted"].name]
    assert (stopped["epochs"], stopped["ended"]) == (4, None)
    sweep = rows[runs["sweep"].name]
    assert (sweep["command"], sweep["variant"], sweep["seed"], sweep["runs"]) == (
        "compare", "binary,embedding", "0-1", "4/4",
    )  # fmt: skip
    inner = list_runs(runs["sweep"])  # a sweep directory lists its runs
    assert len(inner) == 4 and {r["status"] for r in inner} == {"finished"}
    assert sweep["best_pearson"] == max(r["best_pearson"] for r in inner)


def test_a_run_whose_lock_a_live_process_holds_is_running(runs, env) -> None:
    """Another process takes the run's lock as the training loop does (``run_lock``) and keeps
    it until told to go."""
    d = runs["interrupted"]
    code = (
        "import sys\nfrom dcellx.train.rundir import run_lock\n"
        f"with run_lock({str(d)!r}):\n    print('held', flush=True)\n    sys.stdin.readline()\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        row = _rows(d.parent)[d.name]
        assert row["status"] == "running" and row["holder"]["pid"] == holder.pid
        res = run_cli(["runs", str(d.parent), "--where", "status=running", "--json"], env)
        assert res.returncode == 0, res.stderr
        assert [r["id"] for r in json.loads(res.stdout)] == [d.name]
    finally:
        holder.communicate("go\n")
    assert holder.returncode == 0
    assert _rows(d.parent)[d.name]["status"] == "interrupted"  # released: resumable again


def test_where_and_sort(runs) -> None:
    rows = list_runs(runs["overfit"].parent)
    finished = select(rows, ["status=finished", "command=overfit"])
    assert [r["id"] for r in finished] == [runs["overfit"].name]
    assert [r["id"] for r in select(rows, ["lr=2e-3"])] == [runs["train"].name]  # config field
    assert [r["id"] for r in select(rows, ["model.alpha=0.3", "seed=4"])] == [runs["failed"].name]
    ranked = select(rows, sort="-best_pearson")
    values = [r["best_pearson"] for r in ranked if r["best_pearson"] is not None]
    assert values == sorted(values, reverse=True) and len(values) == len(rows)
    by_seed = [r["seed"] for r in select(rows, ["command=overfit"], sort="seed")]
    assert by_seed == [1, 3, 4]


def test_the_command_line(runs, env) -> None:
    root = runs["overfit"].parent
    res = run_cli(["runs", str(root), "--sort", "id"], {**env, "COLUMNS": "250"})
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    for name, d in runs.items():
        (line,) = [ln for ln in lines if d.name in ln]
        assert {"sweep": "finished 4/4"}.get(name, name if name in ("interrupted", "failed")
                                              else "finished") in line  # fmt: skip
    assert lines[-1] == "3 finished, 1 interrupted, 1 failed"
    res = run_cli(["runs", str(root), "--where", "nope=1"], env)
    assert res.returncode == 2 and res.stderr.startswith("error: --where nope: not a column")
    res = run_cli(["runs", str(root / "absent")], env)
    assert res.returncode == 2
    assert res.stderr.strip() == f"error: {root / 'absent'}: no such runs directory"


def test_an_unreadable_run_is_a_warning_not_a_failure(runs, tmp_path, env) -> None:
    root = tmp_path / "runs"
    root.mkdir()
    (root / "broken").mkdir()
    (root / "broken" / "config.json").write_text('{"run": ')
    os.symlink(runs["overfit"], root / runs["overfit"].name)
    res = run_cli(["runs", str(root), "--json"], env)
    assert res.returncode == 0, res.stderr
    assert [r["id"] for r in json.loads(res.stdout)] == [runs["overfit"].name]
    assert res.stderr.startswith(f"warning: {root / 'broken'}: not listed (")
