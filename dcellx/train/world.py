"""The processes one run is spread over, as the training loop sees them.

The loop is written once for a ``World``: ``Local`` (one process, the default), under
``--cuda-graph`` ``dcellx.train.cuda_graph.GraphedLocal`` (one process, its steps replayed from
CUDA graphs) or, under ``--ddp``, ``dcellx.scale.ddp.DDPContext``, which implements the same
methods with collectives. The loop picks one at its entry and never branches on which it has.
All take their optimiser steps through ``forward_loss``, so the loss is ``dcell_loss`` either way.

No step reads a value back to the host: ``step`` returns the root predictions and the three
losses as tensors on the device, and the epoch reads them once, at its end (on CUDA a read is a
synchronisation that would stall the queue of kernels every step).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from dcellx.nn.config import ModelConfig
from dcellx.nn.loss import LossParts, dcell_loss

# total, root, auxiliary (before alpha): a tensor [3] on the model's device (``step_losses``);
# a sequence of three floats where a world has already read them (``DDPContext.step``)
Losses = torch.Tensor | tuple[float, float, float]


def step_losses(parts: LossParts) -> torch.Tensor:
    """A step's losses as one detached tensor [3]: total, root, auxiliary."""
    return torch.stack([parts.total.detach(), parts.root, parts.aux])


def forward_loss(
    model: nn.Module,
    batch: Any,
    mcfg: ModelConfig,
    alpha: float,
    l2: list[torch.Tensor] | None,
    weight: float = 1.0,
) -> tuple[torch.Tensor, LossParts, torch.Tensor]:
    """The forward pass (BatchNorm in train mode) and ``dcell_loss``: the root predictions (with
    their graph), the unweighted loss parts and the loss to differentiate,
    ``weight * parts.total``."""
    model.train()
    root, aux = model(batch)
    parts = dcell_loss(root, aux, batch.y, mcfg, alpha=alpha, l2_params=l2)
    loss = parts.total if weight == 1.0 else parts.total * weight
    return root, parts, loss


def optimiser_step(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    batch: Any,
    mcfg: ModelConfig,
    alpha: float,
    l2: list[torch.Tensor] | None,
    weight: float = 1.0,
) -> tuple[torch.Tensor, LossParts]:
    """One step (BatchNorm in train mode) on ``weight * dcell_loss``; returns the root predictions
    (with their graph) and the unweighted loss parts. ``weight`` is the data-parallel share of a
    global batch (``DDPContext.step``)."""
    root, parts, loss = forward_loss(model, batch, mcfg, alpha, l2, weight)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return root, parts


class World(Protocol):
    """What the loop asks of the processes it runs on (see ``Local`` for the meaning of each)."""

    world: int

    @property
    def is_main(self) -> bool: ...

    def shard(self, rows: np.ndarray) -> np.ndarray: ...

    def usable(self, n: int) -> bool: ...

    def check_batch_size(self, batch_size: int) -> None: ...

    def wrap(self, model: nn.Module) -> nn.Module: ...

    def step(
        self,
        model: nn.Module,
        opt: torch.optim.Optimizer,
        batch: Any,
        n_global: int,
        mcfg: ModelConfig,
        alpha: float,
        l2: list[torch.Tensor] | None,
    ) -> tuple[torch.Tensor, Losses]: ...

    def agree_signal(self, signum: int | None) -> int | None: ...

    def from_main(self, obj: Any) -> Any: ...

    def describe(self) -> dict[str, Any] | None: ...


class Local:
    """One process: it holds every row of every batch, writes the run directory, and agrees with
    itself."""

    world = 1

    @property
    def is_main(self) -> bool:
        return True

    def shard(self, rows: np.ndarray) -> np.ndarray:
        """This process's part of a global batch: all of it."""
        return rows

    def usable(self, n: int) -> bool:
        """BatchNorm cannot use the statistics of a single sample."""
        return n >= 2

    def check_batch_size(self, batch_size: int) -> None:
        pass  # the config already requires >= 2

    def wrap(self, model: nn.Module) -> nn.Module:
        """The module the optimiser steps go through."""
        return model

    def step(
        self,
        model: nn.Module,
        opt: torch.optim.Optimizer,
        batch: Any,
        n_global: int,
        mcfg: ModelConfig,
        alpha: float,
        l2: list[torch.Tensor] | None,
    ) -> tuple[torch.Tensor, Losses]:
        """One optimiser step on ``batch``; its root predictions and losses, on the device."""
        root, parts = optimiser_step(model, opt, batch, mcfg, alpha, l2)
        return root.detach(), step_losses(parts)

    def agree_signal(self, signum: int | None) -> int | None:
        return signum

    def from_main(self, obj: Any) -> Any:
        return obj

    def describe(self) -> dict[str, Any] | None:
        """What config.json records about the launch: nothing for one process."""
        return None
