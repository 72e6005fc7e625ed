"""Kill and resume with real subprocesses: SIGKILL + --resume ends with the metrics of an
uninterrupted run; SIGTERM/SIGINT write a loadable checkpoint and exit 143/130."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from dcellx.train import checkpoint, make_run_config, run
from tests.train.conftest import CLI, ROOT, metrics_without_seconds, only_run, run_cli

OVERFIT = ["overfit", "--go", "dna-repair", "--epochs", "200", "--seed", "3", "--threads", "1"]


def _rows(run_dir: Path) -> int:
    try:
        return len((run_dir / "metrics.csv").read_text().splitlines()) - 1
    except FileNotFoundError:
        return 0


def _start_and_wait(args: list[str], runs: Path, env, min_rows: int, ckpt: bool):
    """Start the CLI, return (process, run dir) once ``min_rows`` epochs are logged (and a
    periodic checkpoint exists, if ``ckpt``)."""
    proc = subprocess.Popen([*CLI, *args, "--runs-dir", str(runs), "-q"], env=env, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        dirs = list(runs.glob("*/metrics.csv")) if runs.exists() else []
        if dirs:
            d = dirs[0].parent
            if _rows(d) >= min_rows and (not ckpt or (d / "checkpoint-last.pt").exists()):
                return proc, d
        assert proc.poll() is None, "the run ended before it could be interrupted"
        time.sleep(0.01)
    proc.kill()
    pytest.fail("the run did not start logging in time")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> list[list[str]]:
    """The uninterrupted run (in-process: same arithmetic at the same thread count)."""
    runs = tmp_path_factory.mktemp("reference")
    cfg = make_run_config(
        go="dna-repair", epochs=200, seed=3, threads=1, runs_dir=str(runs), quiet=True
    )
    return metrics_without_seconds(run(cfg).run_dir)


def test_sigkill_then_resume_matches_uninterrupted(tmp_path, cli_env, reference) -> None:
    runs = tmp_path / "runs"
    args = [*OVERFIT, "--checkpoint-every", "7"]
    proc, d = _start_and_wait(args, runs, cli_env, min_rows=40, ckpt=True)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (d / "summary.json").exists()
    killed_at = _rows(d)
    ckpt_epoch = checkpoint.load(d / "checkpoint-last.pt")["epoch"]
    assert 7 <= ckpt_epoch <= killed_at < 200
    res = run_cli(["overfit", "--resume", str(d), "-q"], cli_env)
    assert res.returncode == 0, res.stderr
    assert metrics_without_seconds(d) == reference
    assert (d / "summary.json").exists() and not list(d.glob(".*.tmp"))


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_writes_checkpoint_and_exits(tmp_path, cli_env, reference, sig, code) -> None:
    runs = tmp_path / "runs"
    proc, d = _start_and_wait(OVERFIT, runs, cli_env, min_rows=20, ckpt=False)
    proc.send_signal(sig)
    assert proc.wait(timeout=60) == code
    state = checkpoint.load(d / "checkpoint-last.pt")  # complete and loadable
    assert state["epoch"] == _rows(d) and not (d / "summary.json").exists()
    assert (d / "weights-best.pt").exists()
    if sig == signal.SIGTERM:  # and the run continues to the same end
        res = run_cli(["overfit", "--resume", str(d), "-q"], cli_env)
        assert res.returncode == 0, res.stderr
        assert metrics_without_seconds(d) == reference


def test_train_mode_sigterm_mid_epoch_resumes_exactly(tmp_path, cli_env, small_data) -> None:
    args = ["train", "--go", "dna-repair", "--data", str(small_data), "--epochs", "25"]
    args += ["--threads", "1", "--seed", "2", "--scheduler", "plateau"]
    args += ["--set", "plateau_patience=1"]
    proc, d = _start_and_wait(args, tmp_path / "runs", cli_env, min_rows=5, ckpt=False)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143
    res = run_cli(["train", "--resume", str(d), "-q"], cli_env)
    assert res.returncode == 0, res.stderr
    cfg = make_run_config(
        mode="train", go="dna-repair", data=str(small_data), epochs=25, threads=1, seed=2,
        scheduler="plateau", sets={"plateau_patience": 1}, runs_dir=str(tmp_path / "ref"),
        quiet=True,
    )  # fmt: skip
    ref = run(cfg)
    assert metrics_without_seconds(d) == metrics_without_seconds(ref.run_dir)
    assert only_run(tmp_path / "runs") == d
