"""Seeded initial values of a Linear layer (and of a stack of them): torch's default init and the
presets' rescalings (``ModelConfig.init``). Shared by the term layers (``dcellx.nn.init``) and the
gene inputs' own layers (``dcellx.nn.genes``), drawn from one generator in a fixed order."""

from __future__ import annotations

import math

import torch

from dcellx.nn.config import ModelConfig


def linear_init(
    gen: torch.Generator, out: int, fan_in: int, cfg: ModelConfig, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """torch's default Linear init, U(+-1/sqrt(fan_in)) for weight and bias (Torch7 used the
    same bound), then the preset's rescaling. In place: the same float32 operations in the same
    order as ``(rand * 2 - 1) * bound`` (bitwise the same values), without a temporary tensor
    per operation (three model-sized allocations on the full-GO paper model)."""
    w = torch.rand(out, fan_in, generator=gen, dtype=dtype)
    b = torch.rand(out, generator=gen, dtype=dtype)
    if cfg.init == "uniform-0.001":
        return w.mul_(2).sub_(1).mul_(0.001), b.mul_(2).sub_(1).mul_(0.001)
    bound = 1.0 / math.sqrt(max(fan_in, 1))
    w.mul_(2).sub_(1).mul_(bound)
    b.mul_(2).sub_(1).mul_(bound)
    if cfg.init == "lua-scaled":
        w.mul_(0.001)
    elif cfg.init == "lua-scaled-0.01":
        w.mul_(0.01)
    return w, b


def mlp_init(
    gen: torch.Generator, prefix: str, sizes: list[int], cfg: ModelConfig, dtype: torch.dtype
) -> dict[str, torch.Tensor]:
    """Sequential(Linear, Tanh, Linear, ...) parameters named like ``nn.Sequential``."""
    out = {}
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        w, bias = linear_init(gen, b, a, cfg, dtype)
        out[f"{prefix}.{2 * i}.weight"], out[f"{prefix}.{2 * i}.bias"] = w, bias
    return out
