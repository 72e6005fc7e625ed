"""Helpers for the refusal tests (issue 14): the real CLI entry point, in-process (``cli``: it maps
a library error to one ``error:`` line and exit 2) or as a subprocess (``run_cli``, where a real
process matters: a read-only bind mount, ``RLIMIT_FSIZE``); a private cache per test; and checks
that nothing was left behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from dcellx.data.datasets import load_dataset
from dcellx.data.genotypes import write_dcell_genotypes
from tests.reliability.https_server import HttpsServer, make_cert

ROOT = Path(__file__).resolve().parents[2]
# The CLI as the console script runs it.
CLI = [sys.executable, "-c", "from dcellx_cli.main import main; main()"]
OVERFIT = ["overfit", "--go", "dna-repair", "--threads", "1", "-q"]


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def error_line(self) -> str:
        """The first line on stderr (an ``error:`` or ``warning:`` line)."""
        lines = [ln for ln in self.err.splitlines() if ln.strip()]
        return lines[0].strip() if lines else ""


def files_under(root: Path) -> list[str]:
    """Every file below ``root`` (hidden temp files included), as sorted relative paths."""
    root = Path(root)
    if not root.exists():
        return []
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir())


@pytest.fixture(autouse=True)
def reliability_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache of the test's own (``DCELLX_CACHE``, not created), offline: the mirror only."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("DCELLX_CACHE", str(cache))
    monkeypatch.setenv("DCELLX_OFFLINE", "1")
    return cache


@pytest.fixture(autouse=True)
def _restore_threads() -> Iterator[None]:
    """Runs set torch's thread count from their config; keep other tests unaffected."""
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def _certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def https(_certificate, monkeypatch: pytest.MonkeyPatch) -> Iterator[HttpsServer]:
    """A local https server whose throwaway CA is ``DCELLX_CA_BUNDLE``; downloads allowed."""
    cert, key = _certificate
    monkeypatch.setenv("DCELLX_CA_BUNDLE", str(cert))
    monkeypatch.delenv("DCELLX_OFFLINE", raising=False)
    with HttpsServer(cert, key) as server:
        yield server


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """``cli(*args)``: the console entry point in-process, as a user runs it; its exit code and
    output."""
    from dcellx_cli.main import main

    def call(*args: str) -> Result:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["dcellx", *map(str, args)])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        cap = capsys.readouterr()
        return Result(code, cap.out, cap.err)

    return call


def run_cli(
    args: list[str],
    prefix: list[str] | None = None,
    preexec: Callable[[], None] | None = None,
    timeout: float = 120,
) -> Result:
    """The CLI in a subprocess (this process's environment), behind an optional command
    ``prefix`` and with an optional ``preexec_fn``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run(
        [*(prefix or []), *CLI, *args], env=env, cwd=ROOT, capture_output=True, text=True,
        timeout=timeout, preexec_fn=preexec,
    )  # fmt: skip
    return Result(res.returncode, res.stdout, res.stderr)


_BIND_RO = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" && exec "$@"'


@pytest.fixture(scope="session")
def readonly() -> Callable[[Path], list[str]]:
    """``readonly(path)``: a command prefix that runs the command with ``path`` bind-mounted
    read-only in a private mount namespace (root ignores permission bits); skips where the
    machine does not allow a mount namespace."""
    probe = ["unshare", "--mount", "--propagation", "private", "true"]
    if shutil.which("unshare") is None or subprocess.run(probe, capture_output=True).returncode:
        pytest.skip("no private mount namespace here (unshare --mount)")

    def prefix(path: Path) -> list[str]:
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", _BIND_RO, str(path)]

    return prefix


# -- refusals: one line, exit 2, nothing left ----------------------------------------------------
def refused(res: Result, *fragments: str) -> str:
    """Assert exit 2 with exactly one ``error:`` line holding every fragment (no traceback, no
    warning); return the line."""
    assert res.code == 2, (res.code, res.out, res.err)
    assert "Traceback" not in res.out + res.err
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def left_behind(root: Path, runs: Path | None = None) -> list[Path]:
    """What a refused command left: anything in ``runs`` (a run directory, empty or not) and any
    temp file under ``root``."""
    found = list(Path(root).rglob(".*.tmp"))
    if runs is not None and runs.exists():
        found += list(runs.iterdir())
    return found


def compiled_ontologies(cache: Path) -> list[Path]:
    """Compiled ontologies in a ``DCELLX_CACHE``."""
    folder = cache / "ontologies"
    return sorted(folder.iterdir()) if folder.is_dir() else []


@pytest.fixture(scope="session")
def dna_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 40 real DNA-repair training genotypes (systematic names), DCell format."""
    path = tmp_path_factory.mktemp("data") / "dna-40.txt"
    write_dcell_genotypes(load_dataset("dcell-dna-repair")["train"].subset(slice(0, 40)), path)
    return path
