"""Kill and resume with real subprocesses: SIGKILL + --resume ends with the metrics of an
uninterrupted run; SIGTERM/SIGINT write a loadable checkpoint and exit 143/130.

The signals are raised inside the run at a chosen optimiser step (``DCELLX_TEST_SIGNAL``, see
``dcellx.train.signals``) and go through the loop's own handlers, so where the run stops does not
depend on how fast this machine is.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from dcellx.train import checkpoint, make_run_config, run
from dcellx.train.signals import TEST_ENV
from tests.train.conftest import metrics_without_seconds, only_run, run_cli

OVERFIT = ["overfit", "--go", "dna-repair", "--epochs", "200", "--seed", "3", "--threads", "1"]


def _rows(run_dir: Path) -> int:
    try:
        return len((run_dir / "metrics.csv").read_text().splitlines()) - 1
    except FileNotFoundError:
        return 0


def _interrupted(args: list[str], runs: Path, env, at: str):
    """Run the CLI with the signal spec ``at`` (``SIG@epoch[.step]``); (result, run dir)."""
    res = run_cli([*args, "--runs-dir", str(runs), "-q"], {**env, TEST_ENV: at})
    return res, only_run(runs)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> list[list[str]]:
    """The uninterrupted run (in-process: same arithmetic at the same thread count)."""
    runs = tmp_path_factory.mktemp("reference")
    cfg = make_run_config(
        go="dna-repair", epochs=200, seed=3, threads=1, runs_dir=str(runs), quiet=True
    )
    return metrics_without_seconds(run(cfg).run_dir)


def test_sigkill_then_resume_matches_uninterrupted(tmp_path, cli_env, reference) -> None:
    args = [*OVERFIT, "--checkpoint-every", "7"]
    res, d = _interrupted(args, tmp_path / "runs", cli_env, "SIGKILL@40")  # during epoch 40
    assert res.returncode == -signal.SIGKILL
    assert not (d / "summary.json").exists()
    killed_at = _rows(d)
    ckpt_epoch = checkpoint.load(d / "checkpoint-last.pt")["epoch"]
    assert 7 <= ckpt_epoch <= killed_at < 200
    assert (ckpt_epoch, killed_at) == (35, 39)
    res = run_cli(["overfit", "--resume", str(d), "-q"], cli_env)
    assert res.returncode == 0, res.stderr
    assert metrics_without_seconds(d) == reference
    assert (d / "summary.json").exists() and not list(d.glob(".*.tmp"))


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_writes_checkpoint_and_exits(tmp_path, cli_env, reference, sig, code) -> None:
    res, d = _interrupted(OVERFIT, tmp_path / "runs", cli_env, f"{sig.name}@20")
    assert res.returncode == code, res.stderr
    state = checkpoint.load(d / "checkpoint-last.pt")  # complete and loadable
    assert state["epoch"] == _rows(d) == 20 and not (d / "summary.json").exists()
    assert (d / "weights-best.pt").exists()
    if sig == signal.SIGTERM:  # and the run continues to the same end
        res = run_cli(["overfit", "--resume", str(d), "-q"], cli_env)
        assert res.returncode == 0, res.stderr
        assert metrics_without_seconds(d) == reference


def test_train_mode_sigterm_mid_epoch_resumes_exactly(tmp_path, cli_env, small_data) -> None:
    args = ["train", "--go", "dna-repair", "--data", str(small_data), "--epochs", "25"]
    args += ["--threads", "1", "--seed", "2", "--scheduler", "plateau"]
    args += ["--set", "plateau_patience=1"]
    # after the second of epoch 6's eleven minibatches
    res, d = _interrupted(args, tmp_path / "runs", cli_env, "SIGTERM@6.2")
    assert res.returncode == 143, res.stderr
    state = checkpoint.load(d / "checkpoint-last.pt")
    assert (state["epoch"], state["loop"]["step"], _rows(d)) == (5, 2, 5)
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
