"""Helpers of the OS-level reliability tests (downloads, encodings, OS errors, permissions): the
CLI in a fresh interpreter (for ``RLIMIT_FSIZE`` or a private mount namespace), a read-only bind
mount where the machine allows one (tests run as root, whom permission bits do not stop), and a
listing of everything a command left behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from tests.reliability.conftest import Result

ROOT = Path(__file__).resolve().parents[2]


def run_cli(
    args: Sequence[str],
    *,
    prefix: Sequence[str] = (),
    preexec: Callable[[], None] | None = None,
    timeout: float = 300,
) -> Result:
    """``dcellx ARGS`` in a fresh interpreter (``prefix``: a wrapper such as ``unshare``)."""
    cmd = [*prefix, sys.executable, "-c", "from dcellx_cli.main import main; main()", *args]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", OMP_NUM_THREADS="1")
    proc = subprocess.run(
        cmd,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=preexec,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def can_bind_readonly(tmp: Path) -> bool:
    """Whether ``unshare -m`` + ``mount --bind -o ro`` work here (and really stop a write)."""
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    probe = tmp / "ro-probe"
    probe.mkdir()
    script = f"mount --bind -o ro {probe} {probe} && ! touch {probe}/x 2>/dev/null"
    try:
        ok = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    finally:
        shutil.rmtree(probe, ignore_errors=True)
    return ok.returncode == 0


def readonly_prefix(folder: Path) -> list[str]:
    """A command prefix: run in a private mount namespace where ``folder`` is a read-only bind
    mount of itself (the mount goes away with the process)."""
    q = str(folder).replace("'", "'\\''")
    return ["unshare", "-m", "sh", "-c", f"mount --bind -o ro '{q}' '{q}' && exec \"$@\"", "sh"]


def files_under(folder: Path) -> list[str]:
    """Every file below ``folder`` (relative, sorted; hidden ones included); [] if absent."""
    if not folder.exists():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir())


def one_line(res: Result) -> str:
    """The single line on stderr; fails on a traceback or on more than one line."""
    assert "Traceback" not in res.out + res.err, res.err
    lines = res.err.strip().splitlines()
    assert len(lines) == 1, res.err
    return lines[0]
