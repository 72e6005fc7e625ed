"""DCell's loss: L(root, y) + alpha * reduce_t L(aux_t, y) + l2 * sum ||W||^2, squared error.

The paper sums the auxiliary losses over all non-root terms (alpha = 0.3); the previous rebuild
averaged them, which divides alpha by ~2,400 -- kept as ``aux_reduce="mean"`` to reproduce it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dcellx.nn.config import ModelConfig


@dataclass
class LossParts:
    total: torch.Tensor
    root: torch.Tensor
    aux: torch.Tensor  # the reduced auxiliary loss, before alpha


def alpha_at(cfg: ModelConfig, epoch: int) -> float:
    """alpha, or its linear decay to 0 over ``alpha_decay_epochs`` epochs."""
    if cfg.alpha_decay_epochs <= 0:
        return cfg.alpha
    return cfg.alpha * max(0.0, 1.0 - epoch / cfg.alpha_decay_epochs)


def dcell_loss(
    root: torch.Tensor,
    aux: torch.Tensor,
    y: torch.Tensor,
    cfg: ModelConfig,
    alpha: float | None = None,
    l2_params: list[torch.Tensor] | None = None,
) -> LossParts:
    """``root`` [B], ``aux`` [B, T-1], ``y`` [B]; per-term MSEs are means over the batch."""
    alpha = cfg.alpha if alpha is None else alpha
    root_loss = torch.mean((root - y) ** 2)
    if aux.shape[1] and alpha > 0:
        per_term = torch.mean((aux - y.unsqueeze(1)) ** 2, dim=0)
        aux_loss = per_term.sum() if cfg.aux_reduce == "sum" else per_term.mean()
    else:
        aux_loss = root_loss.new_zeros(())
    total = root_loss + alpha * aux_loss
    if cfg.l2 > 0 and l2_params:
        total = total + cfg.l2 * sum((p * p).sum() for p in l2_params)
    return LossParts(total, root_loss.detach(), aux_loss.detach())
