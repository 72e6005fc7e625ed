"""Isolate the data layer from the developer's real cache, mirror setting and network."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def data_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shared_data: Path) -> Path:
    """Empty per-test cache, the shared mirror, downloads off; returns the cache directory."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("DCELLX_CACHE", str(cache))
    monkeypatch.setenv("DCELLX_MIRROR", str(shared_data))
    monkeypatch.setenv("DCELLX_OFFLINE", "1")
    return cache
