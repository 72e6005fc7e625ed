"""Small file helpers shared by the readers."""

from __future__ import annotations

import gzip
from pathlib import Path

from dcellx.errors import InputError


def read_maybe_gzip(path: Path) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic (whatever its name)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(path, None, "file not found") from exc
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise InputError(path, None, f"corrupt gzip data: {exc}") from exc
    return raw


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` via a temp file in the same directory and ``os.replace``: a reader never
    sees a half-written file, and an interrupted write leaves the old file untouched."""
    import os
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
