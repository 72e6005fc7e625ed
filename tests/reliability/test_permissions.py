"""Issue 14 item 9: one atomic writer honours the umask everywhere (exports, simulated data, the
ontology cache, downloads, run files -- mkstemp made several 0600); temp files are hidden and a
dead writer's are cleaned at the next start; two processes on one run are refused through
``fcntl.flock`` on ``run.lock``, whose record of host and pid recognises a lock left by kill -9
or by a job requeued on another node."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dcellx import fileio
from dcellx.data.genotypes import GenotypeDataset, write_dcell_genotypes
from dcellx.io import registry
from dcellx.io.registry import DataFile
from dcellx.ontology.build import load_ontology
from dcellx.ontology.formats import write_three_column, write_topology
from tests.reliability.conftest import Result
from tests.reliability.https_server import HttpsServer
from tests.reliability.support import ROOT, files_under, one_line

pytestmark = pytest.mark.usefixtures("reliability_env")

OVERFIT = ["overfit", "--go", "dna-repair", "--epochs", "2", "--threads", "1", "-q"]


@pytest.fixture(params=[0o022, 0o027, 0o002], ids=["022", "027", "002"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait(timeout=60)
    return proc.pid


def temp_of(target: Path, pid: int, host: str | None = None) -> Path:
    """A temp file as ``fileio.atomic_write`` names them, for writer ``pid`` on ``host``."""
    host = host or socket.gethostname()
    tmp = target.with_name(f".{target.name}.0123abcd.{pid}@{host}.tmp")
    tmp.write_text("partial")
    return tmp


# -- the umask ----------------------------------------------------------------------------------
def test_exports_and_simulated_data_honour_the_umask(umask: int, onto_dna, tmp_path: Path) -> None:
    expected = 0o666 & ~umask
    write_topology(onto_dna, tmp_path / "topo")
    write_three_column(onto_dna, tmp_path / "three.txt")
    ds = GenotypeDataset([("YAL001C", "YAL002W")], np.array([[0.5]]), ["fitness"], "x")
    write_dcell_genotypes(ds, tmp_path / "sim.txt", header="synthetic")
    fileio.atomic_write_text(tmp_path / "report.md", "# report\n")
    for name in ("topo", "three.txt", "sim.txt", "report.md"):
        assert mode(tmp_path / name) == expected, name
    assert files_under(tmp_path) == ["report.md", "sim.txt", "three.txt", "topo"]  # no temps


def test_ontology_cache_and_downloads_honour_the_umask(
    umask: int, monkeypatch: pytest.MonkeyPatch, https: HttpsServer, reliability_env: Path
) -> None:
    expected = 0o666 & ~umask
    load_ontology("dna-repair")
    (npz,) = (reliability_env / "ontologies").iterdir()
    assert mode(npz) == expected
    entry = DataFile("t-dl", "t/genes.txt", None, https.serve("/g", b"YAL001C\n"), "test")
    monkeypatch.setitem(registry.REGISTRY, entry.name, entry)
    got = registry.fetch(entry.name)
    assert mode(got) == expected and mode(registry.record_path(got)) == expected


def test_run_files_honour_the_umask(tmp_path: Path, cli) -> None:
    old = os.umask(0o027)
    try:
        runs = tmp_path / "runs"
        assert cli(*OVERFIT, "--runs-dir", str(runs)).code == 0
        (run,) = runs.iterdir()
        out = tmp_path / "preds.csv"
        args = ["predict", "--run", str(run), "--data", "dcell-dna-repair", "--out", str(out)]
        assert cli(*args).code == 0
    finally:
        os.umask(old)
    files = files_under(run)
    assert {"config.json", "env.json", "weights-best.pt", "run.lock", "summary.json"} <= set(files)
    assert {f: mode(run / f) for f in files} == {f: 0o640 for f in files}
    assert mode(out) == 0o640 and mode(run) == 0o750


# -- temp files ---------------------------------------------------------------------------------
def test_temp_files_are_hidden_and_removed_when_a_write_fails(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    seen: list[str] = []

    def fail(fh) -> None:
        seen.extend(p.name for p in tmp_path.iterdir())
        raise OSError(28, "No space left on device")

    with pytest.raises(fileio.FileWriteError, match=f"{target}: cannot write .No space left"):
        fileio.atomic_write(target, fail)
    (name,) = seen
    assert name.startswith(".out.txt.")
    assert name.endswith(f".{os.getpid()}@{socket.gethostname()}.tmp")
    assert files_under(tmp_path) == []


def test_a_dead_writers_temp_is_cleaned_at_the_next_write(onto_dna, tmp_path: Path) -> None:
    target = tmp_path / "topo"
    dead = temp_of(target, dead_pid())
    elsewhere = temp_of(target, dead_pid(), host="node-17")  # another host: judged by age
    live_proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = temp_of(target, live_proc.pid)
        legacy_old = tmp_path / ".topo.Ab3dE6gH.tmp"  # the mkstemp names of older dcellx
        legacy_old.write_text("partial")
        os.utime(legacy_old, (time.time() - 7200, time.time() - 7200))
        legacy_new = tmp_path / ".topo.Zz9yX8wV.tmp"
        legacy_new.write_text("partial")
        write_topology(onto_dna, target)
        left = set(files_under(tmp_path))
    finally:
        live_proc.kill()
        live_proc.wait(timeout=60)
    assert dead.name not in left and legacy_old.name not in left
    assert {target.name, live.name, elsewhere.name, legacy_new.name} == left


def test_a_dead_downloads_temp_is_cleaned_at_the_next_fetch(
    monkeypatch: pytest.MonkeyPatch, https: HttpsServer, reliability_env: Path
) -> None:
    entry = DataFile("t-dl", "t/genes.txt", None, https.serve("/g", b"YAL001C\n"), "test")
    monkeypatch.setitem(registry.REGISTRY, entry.name, entry)
    (reliability_env / "t").mkdir(parents=True)
    stale = temp_of(reliability_env / entry.path, dead_pid())
    registry.fetch(entry.name)
    assert not stale.exists()
    assert files_under(reliability_env) == ["t/genes.txt", "t/genes.txt.download.json"]


# -- the run lock -------------------------------------------------------------------------------
@pytest.fixture
def unfinished_run(tmp_path: Path, cli) -> Path:
    """A run with a checkpoint and no summary: what a killed run leaves to ``--resume``."""
    runs = tmp_path / "runs"
    keep = ("--keep-checkpoints", "last")  # the checkpoint a killed run leaves
    res = cli(*OVERFIT, "--checkpoint-every", "1", *keep, "--runs-dir", str(runs))
    assert res.code == 0, res.err
    (run,) = runs.iterdir()
    (run / "summary.json").unlink()
    return run


HOLD = """
import os, signal, sys, time
from pathlib import Path
from dcellx.train.rundir import run_lock
lock = run_lock(Path(sys.argv[1]))
lock.__enter__()
print("held", flush=True)
if sys.argv[2] == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
time.sleep(60)
"""


def hold_lock(run: Path, then: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(run), then],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def snapshot(run: Path) -> dict[str, tuple[int, int]]:
    return {f: ((run / f).stat().st_size, (run / f).stat().st_mtime_ns) for f in files_under(run)}


def test_a_second_process_on_a_run_is_refused(unfinished_run: Path, cli) -> None:
    holder = hold_lock(unfinished_run, "sleep")
    try:
        before = snapshot(unfinished_run)
        res: Result = cli("overfit", "--resume", str(unfinished_run), "-q")
        after = snapshot(unfinished_run)
    finally:
        holder.kill()
        holder.wait(timeout=60)
    assert res.code == 2
    line = one_line(res)
    host = socket.gethostname()
    assert line.startswith(f"error: {unfinished_run}: in use by pid {holder.pid} on host {host} ")
    assert line.endswith("; wait for it to finish or stop it, then resume")
    assert after == before  # nothing written, nothing removed


def test_a_lock_left_by_kill_9_is_recognised_and_the_run_resumes(unfinished_run: Path, cli) -> None:
    holder = hold_lock(unfinished_run, "kill")
    assert holder.wait(timeout=60) == -signal.SIGKILL
    record = json.loads((unfinished_run / "run.lock").read_text())
    assert record["pid"] == holder.pid and record["host"] == socket.gethostname()
    stray = temp_of(unfinished_run / "checkpoint-last.pt", holder.pid)
    res = cli("overfit", "--resume", str(unfinished_run), "-q")
    assert res.code == 0, res.err
    assert one_line(res).startswith(
        f"warning: {unfinished_run}/run.lock: the previous process (pid {holder.pid} on host "
        f"{socket.gethostname()}, started {record['started']}) ended without releasing the run"
    )
    assert (unfinished_run / "summary.json").is_file()
    assert not stray.exists()  # the killed writer's temp file went with the stale lock
    assert (unfinished_run / "run.lock").read_text() == ""  # released cleanly this time


def test_a_lock_recorded_on_another_node_after_a_requeue(unfinished_run: Path, cli) -> None:
    record = {"host": "node-17", "pid": 4242, "started": "2026-01-01T00:00:00+0000"}
    (unfinished_run / "run.lock").write_text(json.dumps(record))
    res = cli("overfit", "--resume", str(unfinished_run), "-q")
    assert res.code == 0, res.err
    assert "the previous process (pid 4242 on host node-17" in one_line(res)
