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

import torch
import torch.nn.functional as F

# (sum [N], sumsq [N], count) -> globally reduced (sum, sumsq, count); None = single process
_REDUCER: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], tuple] | None = None


def set_batch_stat_reducer(fn: Callable | None) -> None:
    global _REDUCER
    _REDUCER = fn


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
    """BatchNorm of ``x`` [B, F] per feature, torch semantics (running var updated unbiased).

    Running statistics are updated in place when batch statistics are used.
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
