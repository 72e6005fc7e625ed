"""DCell's loss: L(root, y) + alpha * reduce_t L(aux_t, y) + l2 * sum ||W||^2, squared error.

The paper sums the auxiliary losses over all non-root terms (alpha = 0.3), so that every term's
head pulls its state towards the phenotype as strongly as the root's. ``aux_reduce="mean"``
averages them instead, which divides alpha by the number of non-root terms (~2,400 on the full
GO) and leaves the auxiliary heads almost unsupervised; it exists because torchcell's loss does
this, and reproducing a torchcell run needs it.
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
    r"""alpha at ``epoch`` (0-based): constant, or with ``alpha_decay_epochs`` = E > 0 the
    linear decay :math:`\alpha_e = \alpha \max(0, 1 - e / E)`, 0 from epoch E on."""
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
    r"""DCell's training loss and its parts.

    .. math::
        \mathcal{L} = \underbrace{\tfrac{1}{B}\textstyle\sum_b (\hat y_b - y_b)^2}_{\text{root}}
        + \alpha \, \underbrace{\underset{t}{R}\, \tfrac{1}{B}\textstyle\sum_b
        (\hat y_{t,b} - y_b)^2}_{\text{aux}} + \lambda \textstyle\sum_{W} \lVert W \rVert_F^2

    Args:
        root (Tensor): the root prediction.
        aux (Tensor): the auxiliary outputs, one column per non-root term.
        y (Tensor): the phenotype.
        cfg (ModelConfig): ``aux_reduce`` (R: ``"sum"`` or ``"mean"`` over the columns),
            ``l2`` (:math:`\lambda`) and the default ``alpha``.
        alpha (float, optional): :math:`\alpha` for this step (``alpha_at``); ``cfg.alpha`` if
            None. With :math:`\alpha = 0` or no auxiliary column the aux part is 0.
        l2_params (list of Tensor, optional): the W of the penalty (``DCell.l2_parameters``);
            no penalty without them or with ``l2 = 0``.

    Shapes:
        ``root`` [B], ``aux`` [B, T-1], ``y`` [B] -> ``LossParts`` of scalars (``root`` and
        ``aux`` detached, ``aux`` before :math:`\alpha`).
    """
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
