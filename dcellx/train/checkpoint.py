"""Checkpoints: ``checkpoint-last.pt`` (everything needed to resume) and ``weights-best.pt``.

Model tensors are stored under GO-term names (``DCell.term_state_dict``), so a checkpoint is
readable by term id and independent of the engine's packing. Files are written with ``torch.save``
to a temporary file in the run directory and renamed, and read with ``weights_only=True``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from dcellx import fileio
from dcellx.errors import InputError
from dcellx.train.rundir import atomic_write

LAST = "checkpoint-last.pt"
BEST = "weights-best.pt"
FORMAT = 1


def save(path: Path, state: dict[str, Any]) -> None:
    """Atomically write ``state`` (a dict of tensors and plain Python values)."""
    atomic_write(path, lambda fh: torch.save({"format": FORMAT, **state}, fh))


def load(path: Path) -> dict[str, Any]:
    """Read a checkpoint onto the CPU; an unreadable file is an ``InputError``, not a traceback."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(path, None, "checkpoint not found") from None
    except Exception as exc:  # torch raises several types for a corrupt or foreign file
        raise InputError(path, None, f"not a readable dcellx checkpoint ({exc})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise InputError(path, None, "not a dcellx checkpoint (format mismatch)")
    return state


def keep_copy(path: Path, epoch: int) -> None:
    """``--keep-checkpoints all``: keep this checkpoint as ``checkpoint-e<epoch>.pt`` (a hard link
    where the filesystem allows, so keeping costs no second write)."""
    dest = path.with_name(f"checkpoint-e{epoch:05d}.pt")
    dest.unlink(missing_ok=True)
    try:
        os.link(path, dest)
    except OSError:
        atomic_write(dest, lambda fh: fh.write(Path(path).read_bytes()))


def rng_state() -> dict[str, Any]:
    """torch's CPU (and CUDA) generator states. The loop itself draws nothing from global RNGs
    (batch orders come from (seed, epoch)), but a model variant might."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def remove_stale_temps(run_dir: Path) -> None:
    """Temp files of writes a SIGKILL interrupted (never read; safe to delete: the caller holds
    the run's lock, so no live process writes here)."""
    fileio.remove_stale_temps(run_dir, every=True)
