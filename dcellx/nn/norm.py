"""Normalisation of subsystem states, shared by the fast engine and the reference loop.

``batch``: BatchNorm over the batch (the paper). ``batch-frozen``: batch statistics for the first
``bn_freeze_after`` training steps, running statistics from then on (train and eval then compute
the same function). ``layer``: LayerNorm over each term's own neurons. ``none``: identity.

For multi-process training on CPU, ``set_batch_stat_reducer`` installs an all-reduce of
(sum, sum of squares, count) so that statistics are over the global batch (torch's SyncBatchNorm
refuses CPU tensors).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from dcellx.nn.ops import index_add, take

if TYPE_CHECKING:
    from dcellx.nn.config import ModelConfig

# (sum [N], sumsq [N], count) -> globally reduced (sum, sumsq, count); None = single process
_REDUCER: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple] | None = None


def set_batch_stat_reducer(fn: Callable | None) -> None:
    global _REDUCER
    _REDUCER = fn


def batch_stats_reduced() -> bool:
    """Whether a batch-statistics reducer is installed (multi-process training)."""
    return _REDUCER is not None


def batch_stats_in_use(cfg: ModelConfig, training: bool, norm_steps: torch.Tensor | int) -> bool:
    """Whether BatchNorm uses the batch's statistics (else the running ones): in training mode,
    except under ``batch-frozen`` once ``norm_steps`` training steps reach ``bn_freeze_after``.
    Under ``batch-frozen`` a ``norm_steps`` tensor on a device is read back: one sync per
    forward, and a Python branch a CUDA graph cannot capture (the other norms read nothing)."""
    frozen = cfg.norm == "batch-frozen" and norm_steps >= cfg.bn_freeze_after
    return training and not frozen


def layer_norm_terms(
    z: torch.Tensor,
    term: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    eps: float,
    n_terms: int | None = None,
) -> torch.Tensor:
    r"""LayerNorm of every term over its own neurons, all terms of a stratum in one call.

    .. math::
        \mathrm{out}_{u,b} = \gamma_u \frac{z_{u,b} - \mu_{t,b}}{\sqrt{\sigma^2_{t,b}
        + \epsilon}} + \beta_u, \qquad t = \mathrm{term}(u)

    with :math:`\mu_{t,b}` and :math:`\sigma^2_{t,b}` the mean and biased variance of sample b
    over the :math:`w_t` neurons of term t: per term what ``F.layer_norm`` over its width does.

    Args:
        z (Tensor): pre-normalisation values, neuron-major.
        term (Tensor): int64, the local term (0 .. T_s - 1) of each row, non-decreasing.
        weight, bias (Tensor): per-neuron affine :math:`\gamma`, :math:`\beta`.
        eps (float): added to the variance.
        n_terms (int, optional): T_s, the number of terms; read from ``term`` when None (a
            device sync: the engines pass it).

    Shapes:
        ``z`` [N_s, B], ``term``/``weight``/``bias`` [N_s] -> [N_s, B].
    """
    n_terms = int(term[-1]) + 1 if n_terms is None else n_terms
    ones = torch.ones_like(term, dtype=z.dtype)
    cnt = index_add(torch.zeros(n_terms, dtype=z.dtype, device=z.device), term, ones)
    zeros = torch.zeros(n_terms, z.shape[1], dtype=z.dtype, device=z.device)
    mean = index_add(zeros, term, z) / cnt.unsqueeze(1)
    c = z - take(mean, term)
    var = index_add(torch.zeros_like(mean), term, c * c) / cnt.unsqueeze(1)
    zn = c / torch.sqrt(take(var, term) + eps)
    return zn * weight.unsqueeze(1) + bias.unsqueeze(1)


def batch_norm_rows(
    x: torch.Tensor,
    running_mean: torch.Tensor,
    running_var: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    use_batch_stats: bool,
    momentum: float,
    eps: float,
) -> torch.Tensor:
    r"""BatchNorm of ``x`` [B, F] per feature, torch semantics (running var updated unbiased).

    .. math::
        \mathrm{out}_{b,f} = \gamma_f \frac{x_{b,f} - \mu_f}{\sqrt{\sigma^2_f + \epsilon}}
        + \beta_f

    With ``use_batch_stats``, :math:`\mu_f, \sigma^2_f` are the batch mean and biased variance
    (over the global batch when a reducer is installed) and the running statistics are updated in
    place, :math:`r \leftarrow (1 - m) r + m \hat r`, the variance with the unbiased
    :math:`\hat\sigma^2 B / (B - 1)`; without, the running statistics are used and left as
    they are.

    Shapes:
        ``x`` [B, F]; ``running_mean``, ``running_var``, ``weight``, ``bias`` [F] -> [B, F].
    """
    if _REDUCER is None or not use_batch_stats:
        return F.batch_norm(
            x, running_mean, running_var, weight, bias, use_batch_stats, momentum, eps
        )
    # float64: E[x^2] - E[x]^2 cancels catastrophically in float32 for the many near-constant
    # features of a perturbation batch (var ~ 0 next to eps), and the running variance inherits it.
    # The reducer is differentiable, so gradients flow through the global statistics.
    xd = x.double()
    count = torch.tensor(float(x.shape[0]), dtype=torch.float64, device=x.device)
    s, ss, n = _REDUCER(xd.sum(0), (xd * xd).sum(0), count)
    mean = s / n
    var = (ss / n - mean * mean).clamp_min(0.0)
    with torch.no_grad():
        running_mean.mul_(1 - momentum).add_((momentum * mean).to(running_mean.dtype))
        unbiased = var * n / (n - 1)
        running_var.mul_(1 - momentum).add_((momentum * unbiased).to(running_var.dtype))
    return ((xd - mean) / torch.sqrt(var + eps)).to(x.dtype) * weight + bias
