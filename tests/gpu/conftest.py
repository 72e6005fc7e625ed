"""Tests marked ``gpu`` need a CUDA device: skipped here without one (``scripts/gpu_check.sh``
runs them on a GPU machine with ``pytest -m gpu``)."""

from __future__ import annotations

import pytest
import torch


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("gpu") is not None and not torch.cuda.is_available():
        pytest.skip("needs a CUDA device (torch.cuda.is_available() is False)")
