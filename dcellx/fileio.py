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
