"""The model at its best epoch, held in memory between checkpoints."""

from __future__ import annotations

import torch
from torch import nn


class BestWeights:
    """One preallocated copy of the model's state, ``copy_``-ed on each improvement and written as
    ``weights-best.pt`` only with checkpoints and at the end (``dirty`` until then)."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.state: dict[str, torch.Tensor] | None = None
        self.dirty = False

    def capture(self) -> None:
        current = self.model.state_dict()
        if self.state is None:
            self.state = {k: v.detach().clone() for k, v in current.items()}
        else:
            for k, v in current.items():
                self.state[k].copy_(v)
        self.dirty = True

    def term_state(self) -> dict[str, torch.Tensor]:
        """Term-named copy of the best weights (swapped in and out of the live model)."""
        assert self.state is not None
        live = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.model.load_state_dict(self.state)
        out = self.model.term_state_dict()
        self.model.load_state_dict(live)
        return out
