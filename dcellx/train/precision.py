"""A run's numerics on its device: TF32, deterministic algorithms and bf16 autocast.

All three are opt-in run fields (``RunConfig.tf32``, ``.deterministic``, ``.precision``) and are
applied here, once, at the run's edge (``dcellx.train.loop``):

* ``numerics(cfg, dev)`` sets the process-wide switches for the run's duration and puts back
  what it found when the run ends (a sweep runs many runs in one process): with ``tf32`` on a CUDA
  device, ``torch.backends.cuda.matmul.allow_tf32`` and ``torch.backends.cudnn.allow_tf32`` (a
  float32 matmul then rounds its inputs to TF32's 10-bit mantissa; CPUs have no TF32, so there it
  changes nothing); with ``deterministic``, ``torch.use_deterministic_algorithms(True)`` and, for
  cuBLAS, ``CUBLAS_WORKSPACE_CONFIG=:4096:8`` (cuBLAS splits a matmul's reduction over workspaces
  and adds their results in launch order unless each stream has a fixed workspace; cuBLAS reads
  the variable once, when CUDA first uses it, so it is set before that and left set). What was
  applied is the run's ``config.json`` ``numerics``.
* ``autocast_forward(model, dev)`` (``precision="bf16"``) is the module the optimiser steps go
  through: ``model``'s forward under ``torch.autocast(dtype=torch.bfloat16)`` (matmuls in bf16,
  reductions in float32), its outputs cast back to float32, so the loss, the backward's gradients
  in the parameters' dtype, the optimiser state and the BatchNorm running statistics (updated in
  place in their float32 buffers) all stay float32. Evaluation forwards use the plain model, in
  float32. The fused engine computes its own backward in float32 and does not run under autocast:
  a bf16 run builds its DCell on autograd (``dcellx.train.context.build_training``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from dcellx.errors import ConfigError
from dcellx.train.config import RunConfig

CUBLAS_ENV = "CUBLAS_WORKSPACE_CONFIG"
# the workspace settings with which cuBLAS is deterministic (CUDA's reproducibility notes); the
# first is the one set when the variable is unset
CUBLAS_DETERMINISTIC = (":4096:8", ":16:8")


def _check_cublas(dev: torch.device) -> str | None:
    """The cuBLAS workspace setting a deterministic run uses (set here when unset), or refused
    when it is one with which cuBLAS is not deterministic or comes too late to take effect."""
    value = os.environ.get(CUBLAS_ENV)
    if value is not None and value not in CUBLAS_DETERMINISTIC:
        raise ConfigError(
            f"--deterministic: {CUBLAS_ENV}={value[:40]!r} makes cuBLAS non-deterministic; "
            f"unset it or set {' or '.join(CUBLAS_DETERMINISTIC)}"
        )
    if value is None and dev.type == "cuda" and torch.cuda.is_initialized():
        raise ConfigError(
            f"--deterministic: CUDA was already in use in this process without {CUBLAS_ENV}; "
            f"set {CUBLAS_ENV}={CUBLAS_DETERMINISTIC[0]} in the environment"
        )
    if value is None:
        os.environ[CUBLAS_ENV] = value = CUBLAS_DETERMINISTIC[0]
    return value


@contextmanager
def numerics(cfg: RunConfig, dev: torch.device) -> Iterator[dict[str, Any]]:
    """``cfg``'s TF32 and deterministic switches for the duration of the block (module docstring);
    yields the record of what was applied."""
    tf32 = cfg.tf32 and dev.type == "cuda"
    saved = (
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    cublas = _check_cublas(dev) if cfg.deterministic else os.environ.get(CUBLAS_ENV)
    try:
        if dev.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
        if cfg.deterministic:
            torch.use_deterministic_algorithms(True)
        yield {
            "precision": cfg.precision,
            "tf32": tf32,
            "deterministic": cfg.deterministic,
            CUBLAS_ENV: cublas,
        }
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[:2]
        torch.use_deterministic_algorithms(saved[2], warn_only=saved[3])


class AutocastForward(nn.Module):
    """``inner``'s forward under bf16 autocast, outputs in float32 (module docstring).

    The autocast cache of cast weights is off: PyTorch's CUDA graph notes require that for a
    capture (``--cuda-graph``), and DCell reads each weight once per forward, so the cache would
    save nothing here.
    """

    def __init__(self, inner: nn.Module, device_type: str) -> None:
        super().__init__()
        self.inner, self.device_type = inner, device_type

    def forward(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast(self.device_type, dtype=torch.bfloat16, cache_enabled=False):
            root, aux = self.inner(batch)
        return root.float(), aux.float()


def autocast_forward(model: nn.Module, cfg: RunConfig, dev: torch.device) -> nn.Module:
    """The module a run's training steps go through: ``model`` itself in float32, wrapped in
    ``AutocastForward`` under ``precision="bf16"``."""
    return AutocastForward(model, dev.type) if cfg.precision == "bf16" else model
