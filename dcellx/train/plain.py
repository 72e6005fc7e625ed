"""The model interface the runner expects, for models without GO-term structure (the dense MLP
control, the additive/pairwise baselines): their plain ``state_dict`` is their term state."""

from __future__ import annotations

import torch
from torch import nn


class PlainStateMixin(nn.Module):
    """``num_parameters``/``term_state_dict``/``load_term_state_dict`` from ``state_dict``."""

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def term_state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.state_dict().items()}

    def load_term_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.load_state_dict(state)
