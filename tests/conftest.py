"""Shared test helpers. Tests read real data from the shared mirror, never from the repo."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

# The offline mirror of real data, next to the project root (see ../shared/data/README.md).
SHARED_DATA = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data").resolve()
# Plain `pytest` works like `make test`: offline, reading the mirror.
os.environ.setdefault("DCELLX_MIRROR", str(SHARED_DATA))


@pytest.fixture
def shared_data() -> Path:
    """The shared data mirror; fails loudly rather than skipping if it is absent."""
    assert (SHARED_DATA / "SHA256SUMS").is_file(), f"shared data mirror missing at {SHARED_DATA}"
    return SHARED_DATA


# Real ontologies are compiled once per test session and shared (compiling the full GO takes ~10 s).
_ONTOLOGIES: dict = {}


def compiled(go: str):
    """Compile recipe ``go`` once per session, bypassing the user cache."""
    from dcellx.ontology.build import load_ontology

    if go not in _ONTOLOGIES:
        _ONTOLOGIES[go] = load_ontology(go, use_cache=False)
    return _ONTOLOGIES[go]


@pytest.fixture(scope="session")
def onto_2017():
    return compiled("2017")


@pytest.fixture(scope="session")
def onto_2018():
    return compiled("2018")


@pytest.fixture(scope="session")
def onto_dna():
    return compiled("dna-repair")


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch) -> Path:
    """A private DCELLX_CACHE so a test can assert what was (not) written."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("DCELLX_CACHE", str(cache))
    return cache


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A test marked ``gpu`` needs a CUDA device: skipped without one, wherever it lives
    (``scripts/gpu_check.sh`` runs ``pytest -m gpu tests`` on a GPU machine)."""
    if item.get_closest_marker("gpu") is not None and not torch.cuda.is_available():
        pytest.skip("needs a CUDA device (torch.cuda.is_available() is False)")
