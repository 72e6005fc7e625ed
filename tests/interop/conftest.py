"""torchcell 1.8.4's DCell for the interop tests, read from its PyPI wheel as
``benchmarks/bench_peer.py`` reads it (the same loader, the same pinned sha256)."""

from __future__ import annotations

import pytest

from benchmarks.bench_peer import WHEEL, fetch_wheel, load_peer
from dcellx.io.registry import cache_dir


@pytest.fixture(scope="session")
def torchcell_dcell() -> tuple[type, type]:
    """torchcell's ``DCell`` and ``DCellLoss`` classes.

    Needs the wheel: the first session downloads it from PyPI (``pip download``, 5 MB) into
    ``<cache>/peer/`` (``$DCELLX_CACHE``, else ``~/.cache/dcellx``); later sessions read it
    there. Offline, put the wheel there first (``DCELLX_OFFLINE`` set and no wheel: a failure
    that says so, never a skip)."""
    try:
        wheel, _ = fetch_wheel(None)
        return load_peer(wheel)
    except SystemExit:  # the loader's one-line reason is on stderr
        where = cache_dir() / "peer" / WHEEL
        pytest.fail(f"torchcell 1.8.4's DCell is needed ({where}); see stderr")
