"""The processes one run is spread over, as the training loop sees them.

The loop is written once for a ``World``: ``Local`` (one process, the default) or, under ``--ddp``,
``dcellx.scale.ddp.DDPContext``, which implements the same methods with collectives. The loop picks
one at its entry and never branches on which it has. Both take their optimiser steps through
``optimiser_step``, so the loss is ``dcell_loss`` either way.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from dcellx.nn.config import ModelConfig
from dcellx.nn.loss import LossParts, dcell_loss

Losses = tuple[float, float, float]  # total, root, auxiliary (before alpha)


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
    model.train()
    root, aux = model(batch)
    parts = dcell_loss(root, aux, batch.y, mcfg, alpha=alpha, l2_params=l2)
    loss = parts.total if weight == 1.0 else parts.total * weight
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
        """One optimiser step on ``batch``; its root predictions and losses."""
        root, parts = optimiser_step(model, opt, batch, mcfg, alpha, l2)
        return root.detach(), (parts.total.item(), parts.root.item(), parts.aux.item())

    def agree_signal(self, signum: int | None) -> int | None:
        return signum

    def from_main(self, obj: Any) -> Any:
        return obj

    def describe(self) -> dict[str, Any] | None:
        """What config.json records about the launch: nothing for one process."""
        return None
