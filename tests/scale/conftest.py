"""Fixtures for the scale-out tests: a real single-node SLURM for the session, CLI helpers.

The SLURM fixture installs the daemons with apt if needed and starts munged, slurmctld and slurmd
in a private directory (``dcellx.scale.localslurm``); it skips only where that is impossible (not
root, or neither SLURM nor apt-get), and fails if a machine that can run it does not.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from dcellx.scale import localslurm
from tests.train.conftest import (  # noqa: F401 -- fixtures shared with the runner tests
    _private_cache,
    _restore_threads,
    _train_cache,
    cli_env,
    small_data,
)


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """A running single-node SLURM cluster (``LocalSlurm``); stopped at the end of the session."""
    reason = localslurm.unavailable_reason()
    if reason:
        pytest.skip(f"local SLURM: {reason}")
    root = tmp_path_factory.mktemp("slurm")
    try:
        cluster = localslurm.start(root)
    except localslurm.SlurmUnavailable as exc:
        pytest.fail(f"local SLURM did not start: {exc}")
    yield cluster
    localslurm.stop(root, cluster)


def wait_for_queue(name: str, env: dict[str, str], timeout: float) -> None:
    """Poll ``squeue`` until no task of job ``name`` is queued or running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        res = subprocess.run(
            ["squeue", "-h", "-r", "--name", name, "-o", "%i %T"],
            capture_output=True, text=True, env=env, timeout=30,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        if not res.stdout.strip():
            return
        time.sleep(0.5)
    pytest.fail(f"job {name} still queued after {timeout} s")


def launcher(tmp_path: Path) -> Path:
    """A script that runs the CLI (for torchrun, which starts a Python file per rank)."""
    path = tmp_path / "dcellx_main.py"
    path.write_text("from dcellx_cli.main import main\n\nmain()\n")
    return path
