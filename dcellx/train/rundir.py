"""Run directories: unique ids, atomic files, and the provenance record (``env.json``).

Every file a later command reads (configs, summaries, checkpoints) is written to a temporary file in
the same directory and renamed over the final name, so a run killed at any instant leaves either the
previous complete file or the new complete file, never a truncated one.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import platform
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

import dcellx
from dcellx.data.datasets import NAMED_DATASETS
from dcellx.errors import DcellxError, warn
from dcellx.fileio import FileWriteError, atomic_write, describe_os_error
from dcellx.io import registry

PACKAGES = ("torch", "numpy", "scipy", "pronto", "pydantic", "typer", "rich", "matplotlib")


def _json_safe(obj: Any) -> Any:
    """NaN/inf are not JSON: write them as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    return obj


def write_json(path: Path, data: Any) -> None:
    text = json.dumps(_json_safe(data), indent=2, default=str) + "\n"
    atomic_write(path, lambda fh: fh.write(text.encode()))


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def new_run_id(variant: str, seed: int, now: float | None = None) -> str:
    """``YYYYmmdd-HHMMSS-<variant>-s<seed>-<4 hex>``; the hex part separates same-second runs."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return f"{stamp}-{variant}-s{seed}-{secrets.token_hex(2)}"


def create_run_dir(
    runs_dir: str | Path, variant: str, seed: int, files: dict[str, Any] | None = None
) -> Path:
    """Create a fresh run directory; ``mkdir`` without ``exist_ok`` makes the id claim atomic.

    ``files`` (``{"config.json": {...}}``) are written into it as JSON; if any cannot be written
    the directory is removed again, so a failed start leaves no half-made run behind.
    """
    root = Path(runs_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
        path = None
        for _ in range(100):
            try:
                path = root / new_run_id(variant, seed)
                path.mkdir()
                break
            except FileExistsError:
                path = None
    except OSError as exc:
        raise FileWriteError(
            f"{root}: cannot create a run directory ({mkdir_reason(root, exc)})"
        ) from exc
    if path is None:
        raise FileWriteError(f"{root}: could not create a unique run directory")
    try:
        for name, data in (files or {}).items():
            write_json(path / name, data)
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
    return path
    raise RuntimeError(f"could not create a unique run directory in {root}")


def mkdir_reason(root: Path, exc: OSError) -> str:
    """The reason a directory could not be made; a dangling symlink (``mkdir`` says only "File
    exists") is named with its target."""
    for place in (root, *root.parents):
        if place.is_symlink() and not place.exists():
            return f"{place} is a symlink to {os.readlink(place)}, which does not exist"
    return describe_os_error(exc)


def git_commit() -> str:
    """The commit of the dcellx checkout (``+dirty`` if modified), or "unknown"."""
    src = Path(dcellx.__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "") if head else "unknown"


def data_files(data: str, test_data: str | None = None) -> dict[str, str]:
    """sha256 of every file behind ``--data`` (a named dataset's splits, or one path)."""
    if data in NAMED_DATASETS:
        names = dict(NAMED_DATASETS[data])
    else:
        names = {"train": data}
    if test_data:
        names["test"] = test_data
    return {split: registry.sha256_file(registry.resolve(src)) for split, src in names.items()}


def environment(
    onto_hash: str, data: str, test_data: str | None = None, sources: Iterable[str] = ()
) -> dict[str, Any]:
    """What ``env.json`` records: versions, commit, host, scheduler ids, threads, input hashes,
    and the download record (URL, sha256, size, date) of every unpinned registered file among
    ``sources`` (the ontology recipe's inputs) and the data."""
    versions = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    slurm = {k: os.environ[k] for k in ("SLURM_JOB_ID", "SLURM_ARRAY_TASK_ID") if k in os.environ}
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "dcellx": dcellx.__version__,
        "packages": versions,
        "git_commit": git_commit(),
        "host": socket.gethostname(),
        "slurm": slurm,
        "torch_threads": torch.get_num_threads(),
        # what else decides the last bits of a CPU run (docs/runs.md, "What is reproducible")
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "cpu_count": os.cpu_count(),
        "blas": _blas(),
        "cuda": torch.version.cuda,
        "ontology_content_hash": onto_hash,
        "data_sha256": data_files(data, test_data),
        "downloads": registry.download_records([*sources, data, test_data or ""]),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _blas() -> str | None:
    """The BLAS torch was built with, as its build summary names it (e.g. the MKL version)."""
    for line in torch.__config__.show().splitlines():
        if "Math Kernel Library" in line or "OpenBLAS" in line:
            return line.strip(" -")
    return None


def recipe_sources(meta: dict[str, Any]) -> list[str]:
    """The registered-name candidates a compiled ontology was built from (its recipe's inputs)."""
    recipe = meta.get("recipe") or {}
    return [
        str(recipe[k]) for k in ("ontology", "annotations", "id_map", "universe") if recipe.get(k)
    ]


# -- the run lock -------------------------------------------------------------------------------
LOCK = "run.lock"


class RunInUse(DcellxError):
    """Another live process holds the run directory's lock."""


def _lock_record(fd: int) -> dict[str, Any] | None:
    try:
        raw = os.pread(fd, 4096, 0)
        return json.loads(raw) if raw.strip() else None
    except (OSError, ValueError):
        return {"host": "?", "pid": "?", "started": "?"}


def _pid_running(pid: object) -> bool:
    try:
        os.kill(int(pid), 0)  # type: ignore[call-overload]
    except (ProcessLookupError, ValueError, TypeError):
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def run_lock(run_dir: str | Path) -> Iterator[dict[str, Any] | None]:
    """Hold ``run_dir``'s lock (``fcntl.flock`` on ``run.lock``) for the duration, or refuse.

    The lock file records the holder (host, pid, start). The kernel drops a flock when its holder
    dies, so a record left by ``kill -9`` or by a job requeued onto another node is recognised as
    stale: the run continues and the previous holder is reported. Yields that stale record (or
    None). A file system without locks is a warning, not a refusal.
    """
    path = Path(run_dir) / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError as exc:
        raise FileWriteError(
            f"{path}: cannot create the run's lock file ({describe_os_error(exc)})"
        ) from exc
    held = False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held = True
        except BlockingIOError:
            raise RunInUse(_in_use(Path(run_dir), _lock_record(fd))) from None
        except OSError as exc:  # ENOLCK, EOPNOTSUPP: some network file systems
            warn(f"{path}: cannot lock ({describe_os_error(exc)}); not protected from a second run")
        previous = _lock_record(fd) if held else None
        if held:
            record = {
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
            except OSError:
                pass  # still locked; the holder is just not recorded
        if previous:
            warn(
                f"{path}: the previous process (pid {previous.get('pid')} on host "
                f"{previous.get('host')}, started {previous.get('started')}) ended without "
                "releasing the run (killed or requeued); continuing"
            )
        yield previous
    finally:
        if held:
            try:
                os.ftruncate(fd, 0)  # an empty lock file: released cleanly
            except OSError:
                pass
        os.close(fd)


def lock_holder(run_dir: str | Path) -> dict[str, Any] | None:
    """The record of the live process holding ``run_dir``'s lock (``{}`` if it wrote none), or
    None when nobody holds it. A holder writes its record and empties the file on release, so an
    empty file is not probed; else a shared non-blocking ``flock`` released at once tells (it
    never waits and never writes). A file system without locks reads as not held."""
    try:
        fd = os.open(Path(run_dir) / LOCK, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not os.pread(fd, 64, 0).strip():
            return None  # released cleanly (or never taken)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _lock_record(fd) or {}
        except OSError:
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _in_use(run_dir: Path, holder: dict[str, Any] | None) -> str:
    if not holder:
        return f"{run_dir}: in use by another process (its lock {LOCK} is held); not resuming"
    pid, host = holder.get("pid"), holder.get("host")
    msg = (
        f"{run_dir}: in use by pid {pid} on host {host} since {holder.get('started')}; "
        "wait for it to finish or stop it, then resume"
    )
    if host == socket.gethostname() and not _pid_running(pid):
        msg += f" (pid {pid} is gone, but a process it started still holds {LOCK})"
    return msg
