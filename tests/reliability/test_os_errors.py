"""Issue 14 item 7: operating-system errors are one line naming the path and the problem, exit 2,
no traceback, nothing half-written; a cache that cannot be written is a warning, not a failure.

Tests run as root, whom permission bits do not stop, so an unwritable place is made with a
read-only bind mount in a private mount namespace (where the machine allows it), with a path
under a regular file (ENOTDIR), with ``/dev/full`` (ENOSPC) and with ``RLIMIT_FSIZE`` set in the
child process (EFBIG)."""

from __future__ import annotations

import resource
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.reliability.conftest import Result, refused
from tests.reliability.support import ROOT, files_under, one_line, run_cli

pytestmark = pytest.mark.usefixtures("reliability_env")

OVERFIT = ["overfit", "--go", "dna-repair", "--epochs", "2", "--threads", "1", "-q"]


def fsize_limit(limit: int) -> Callable[[], None]:
    """A ``preexec_fn`` capping every file the child writes at ``limit`` bytes."""

    def set_limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return set_limit


@pytest.fixture
def finished_run(tmp_path: Path, cli: Callable[..., Result]) -> Path:
    runs = tmp_path / "done"
    res = cli(*OVERFIT, "--runs-dir", str(runs))
    assert res.code == 0, res.err
    (run,) = runs.iterdir()
    return run


def test_runs_dir_under_a_regular_file(tmp_path: Path, cli) -> None:
    (tmp_path / "file").write_text("not a directory\n")
    runs = tmp_path / "file" / "runs"
    res = cli(*OVERFIT, "--runs-dir", str(runs))
    assert res.code == 2
    assert one_line(res) == f"error: {runs}: cannot create a run directory (Not a directory)"


def test_read_only_runs_dir(tmp_path: Path, readonly) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    res = run_cli([*OVERFIT, "--runs-dir", str(runs)], prefix=readonly(runs))
    assert res.code == 2, res.err
    assert one_line(res) == (
        f"error: {runs}: cannot create a run directory (Read-only file system)"
    )
    assert files_under(runs) == []


def test_read_only_cache_is_a_warning_not_a_failed_compile(
    tmp_path: Path, reliability_env: Path, readonly
) -> None:
    reliability_env.mkdir()
    res = run_cli(["ontology", "build", "--go", "dna-repair"], prefix=readonly(reliability_env))
    assert res.code == 0, res.err
    assert "21 terms" in res.out
    line = one_line(res)
    assert line.startswith("warning: ontology cache not written, compiled again next time: ")
    assert f"{reliability_env}/ontologies" in line and line.endswith("(Read-only file system)")
    assert files_under(reliability_env) == []


def test_cache_under_a_regular_file_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli
) -> None:
    (tmp_path / "file").write_text("x\n")
    cache = tmp_path / "file" / "cache"
    monkeypatch.setenv("DCELLX_CACHE", str(cache))
    res = cli("ontology", "build", "--go", "dna-repair")
    assert res.code == 0, res.err
    assert one_line(res).startswith("warning: ontology cache not written, compiled again")
    assert "(Not a directory)" in one_line(res)


def test_full_disk_export_and_simulate(tmp_path: Path, cli) -> None:
    for args in (
        ["ontology", "export", "--go", "dna-repair", "--out", "/dev/full"],
        ["data", "simulate", "--order", "2", "--n", "50", "--out", "/dev/full"],
    ):
        res = cli(*args)
        assert res.code == 2
        assert one_line(res) == "error: /dev/full: cannot write (No space left on device)"
    assert stat.S_ISCHR(Path("/dev/full").stat().st_mode)  # written into, never replaced


def test_file_size_limit_before_the_run_files(tmp_path: Path, reliability_env: Path) -> None:
    """Every file capped at 2 kB: the ontology cache (20 kB) is a warning, config.json (4 kB) is
    the error, and the half-made run directory is removed."""
    runs = tmp_path / "runs"
    res = run_cli([*OVERFIT, "--runs-dir", str(runs)], preexec=fsize_limit(2000))
    assert res.code == 2, res.err
    lines = res.err.strip().splitlines()
    assert "Traceback" not in res.err and len(lines) == 2, res.err
    assert lines[0].startswith("warning: ontology cache not written")
    assert lines[0].endswith("(File too large)")
    assert lines[1].startswith(f"error: {runs}/") and lines[1].endswith(
        "/config.json: cannot write (File too large)"
    )
    assert files_under(runs) == [] and files_under(reliability_env / "ontologies") == []


def test_file_size_limit_at_the_checkpoint_then_resume(tmp_path: Path) -> None:
    """Capped at 100 kB: the run starts, the 140 kB best-weights file fails at the end, without a
    partial checkpoint or temp file. Its metrics record every epoch but no checkpoint holds
    them: ``--resume`` refuses (it would train again from epoch 1 over them) and keeps them."""
    runs = tmp_path / "runs"
    res = run_cli([*OVERFIT, "--runs-dir", str(runs)], preexec=fsize_limit(100_000))
    assert res.code == 2, res.err
    (run,) = runs.iterdir()
    assert one_line(res) == f"error: {run}/weights-best.pt: cannot write (File too large)"
    assert files_under(run) == [
        "config.json", "env.json", "metrics.csv", "metrics.jsonl", "run.lock",
    ]  # fmt: skip
    metrics = (run / "metrics.csv").read_bytes()
    epochs = len(metrics.splitlines()) - 1
    done = run_cli(["overfit", "--resume", str(run), "-q"])
    refused(done, f"metrics.csv records {epochs} epoch(s)", "checkpoint-last.pt is missing")
    assert (run / "metrics.csv").read_bytes() == metrics and not (run / "summary.json").exists()


def test_predict_out_unwritable(tmp_path: Path, finished_run: Path, cli) -> None:
    (tmp_path / "file").write_text("x\n")
    base = ["predict", "--run", str(finished_run), "--data", "dcell-dna-repair"]
    out = tmp_path / "file" / "sub" / "preds.csv"
    res = cli(*base, "--out", str(out))
    assert res.code == 2
    assert one_line(res) == f"error: {out}: cannot write ({tmp_path / 'file'} is not a directory)"
    res = cli(*base, "--out", str(tmp_path))
    assert res.code == 2
    assert one_line(res) == f"error: {tmp_path}: cannot write (is a directory)"
    res = cli(*base, "--out", "/dev/full")
    assert res.code == 2
    assert one_line(res) == "error: /dev/full: cannot write (No space left on device)"


def test_predict_out_on_a_read_only_file_system(
    tmp_path: Path, finished_run: Path, readonly
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    out = folder / "preds.csv"
    args = ["predict", "--run", str(finished_run), "--data", "dcell-dna-repair", "--out", str(out)]
    res = run_cli(args, prefix=readonly(folder))
    assert res.code == 2, res.err
    assert one_line(res) == f"error: {out}: cannot write (Read-only file system)"
    assert files_under(folder) == []


def test_sweep_dir_under_a_regular_file(tmp_path: Path, cli) -> None:
    (tmp_path / "file").write_text("x\n")
    runs = tmp_path / "file" / "runs"
    args = ["compare", "--go", "dna-repair", "--variants", "binary", "--seeds", "1"]
    res = cli(*args, "--epochs", "1", "--threads", "1", "-q", "--runs-dir", str(runs))
    assert res.code == 2
    assert one_line(res) == f"error: {runs}: cannot create this directory (Not a directory)"


TENSOR_FILE = """
import resource, signal, sys, torch
from dcellx.fileio import FileWriteError
from dcellx.fileio import atomic_write, torch_save
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
state = {"w": torch.zeros(30_000)}  # 120 kB: the write that crosses the limit is cut part-way
try:
    atomic_write(sys.argv[1], lambda fh: torch_save(state, fh))
except FileWriteError as exc:
    print("dcellx:", exc)
try:
    with open(sys.argv[1] + ".plain", "wb") as fh:
        torch.save(state, fh)
except Exception as exc:
    print("torch:", type(exc).__name__)
"""


def test_a_tensor_file_cut_part_way_is_named_with_its_cause(tmp_path: Path) -> None:
    """A file-size limit that cuts a tensor file part-way: torch's zip writer swallows the
    OSError and raises RuntimeError ('unexpected pos'); ``fileio.torch_save`` (checkpoints, the
    PyG export) keeps the OSError, so the user reads one line naming the file and the cause."""
    out = tmp_path / "export" / "w.pt"
    out.parent.mkdir()
    res = subprocess.run([sys.executable, "-c", TENSOR_FILE, str(out)], capture_output=True,
                         text=True, cwd=ROOT, timeout=120)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stdout.splitlines() == [
        f"dcellx: {out}: cannot write (File too large)",
        "torch: RuntimeError",  # what a plain torch.save gives for the same cut
    ]
    assert files_under(out.parent) == ["w.pt.plain"]  # dcellx left no partial file, no temp
