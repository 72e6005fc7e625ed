"""What a run directory keeps: while a run can continue (interrupted by a signal, killed,
requeued) its resume checkpoint ``checkpoint-last.pt`` stays; once it has finished (completed,
stopped early, max_steps) only ``weights-best.pt`` does, unless ``--keep-checkpoints last|all``
asked for more. Real CLI runs on the DNA-repair ontology and genotypes.

Signals are raised inside the run at a chosen epoch (``DCELLX_TEST_SIGNAL``), as in
tests/train/test_resume.py."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from dcellx.errors import InputError
from dcellx.train import checkpoint
from dcellx.train.predict import load_weights
from dcellx.train.signals import TEST_ENV
from tests.train.conftest import only_run, run_cli

OVERFIT = ["overfit", "--go", "dna-repair", "--epochs", "20", "--threads", "1", "-q"]


def _weights(run_dir: Path) -> set[str]:
    return {p.name for p in run_dir.glob("*.pt")}


def _status(run_dir: Path) -> str:
    return json.loads((run_dir / "summary.json").read_text())["status"]


@pytest.mark.parametrize(
    ("extra", "status"),
    [
        ([], "completed"),
        (["--fit-stop-pearson", "0.01", "--fit-stop-epochs", "2"], "stopped_early"),
        (["--max-steps", "6"], "max_steps"),
    ],
    ids=["completed", "stopped_early", "max_steps"],
)
def test_a_finished_run_keeps_only_its_best_weights(tmp_path, cli_env, extra, status) -> None:
    runs = tmp_path / "runs"
    res = run_cli([*OVERFIT, "--checkpoint-every", "2", "--runs-dir", str(runs), *extra], cli_env)
    assert res.returncode == 0, res.stderr
    d = only_run(runs)
    assert _status(d) == status
    assert _weights(d) == {"weights-best.pt"}
    best = checkpoint.load(d / "weights-best.pt")
    assert "optimizer" not in best and best["epoch"] >= 1
    with pytest.raises(InputError, match="keeps it only with --keep-checkpoints last or all"):
        load_weights(d, "last")


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGKILL"])
def test_an_unfinished_run_keeps_its_resume_checkpoint_until_it_finishes(
    tmp_path, cli_env, sig
) -> None:
    runs = tmp_path / "runs"
    args = [*OVERFIT, "--checkpoint-every", "5", "--runs-dir", str(runs)]
    res = run_cli(args, {**cli_env, TEST_ENV: f"{sig}@12"})
    assert res.returncode == {"SIGTERM": 143, "SIGKILL": -signal.SIGKILL}[sig], res.stderr
    d = only_run(runs)
    assert not (d / "summary.json").exists()
    assert _weights(d) == {"checkpoint-last.pt", "weights-best.pt"}
    # SIGTERM checkpoints the epoch it stops in; SIGKILL leaves the last periodic one
    last = checkpoint.load(d / "checkpoint-last.pt")
    assert last["epoch"] == {"SIGTERM": 12, "SIGKILL": 10}[sig] and "optimizer" in last
    res = run_cli(["overfit", "--resume", str(d), "-q"], cli_env)
    assert res.returncode == 0, res.stderr
    assert _status(d) == "completed" and _weights(d) == {"weights-best.pt"}


def test_keep_checkpoints_last_and_all_keep_the_resume_checkpoint(tmp_path, cli_env) -> None:
    kept = {}
    for keep in ("last", "all"):
        runs = tmp_path / keep
        args = [*OVERFIT, "--checkpoint-every", "10", "--keep-checkpoints", keep]
        res = run_cli([*args, "--runs-dir", str(runs)], cli_env)
        assert res.returncode == 0, res.stderr
        kept[keep] = _weights(only_run(runs))
    assert kept["last"] == {"checkpoint-last.pt", "weights-best.pt"}
    assert kept["all"] == kept["last"] | {"checkpoint-e00010.pt", "checkpoint-e00020.pt"}
