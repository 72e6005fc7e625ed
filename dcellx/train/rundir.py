"""Run directories: unique ids, atomic files, and the provenance record (``env.json``).

Every file a later command reads (configs, summaries, checkpoints) is written to a temporary file in
the same directory and renamed over the final name, so a run killed at any instant leaves either the
previous complete file or the new complete file, never a truncated one.
"""

from __future__ import annotations

import json
import math
import os
import platform
import secrets
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import torch

import dcellx
from dcellx.data import registry
from dcellx.data.genotypes import NAMED_DATASETS

# mkstemp creates 0600 files; run files should get the usual permissions (0666 minus umask).
_UMASK = os.umask(0)
os.umask(_UMASK)

PACKAGES = ("torch", "numpy", "scipy", "pronto", "pydantic", "typer", "rich", "matplotlib")


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call ``write(fh)`` on a temp file next to ``path``, then rename it over ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


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


def create_run_dir(runs_dir: str | Path, variant: str, seed: int) -> Path:
    """Create a fresh run directory; ``mkdir`` without ``exist_ok`` makes the id claim atomic."""
    root = Path(runs_dir)
    root.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        path = root / new_run_id(variant, seed)
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a unique run directory in {root}")


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


def environment(onto_hash: str, data: str, test_data: str | None = None) -> dict[str, Any]:
    """What ``env.json`` records: versions, commit, host, scheduler ids, threads, input hashes."""
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
        "cuda": torch.version.cuda,
        "ontology_content_hash": onto_hash,
        "data_sha256": data_files(data, test_data),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
