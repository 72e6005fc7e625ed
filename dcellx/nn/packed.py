"""``PackedModel``: what code beside ``DCell`` reads of it, named without importing it.

The term-named state (``dcellx.nn.term_state``) and the fused engine (``dcellx.nn.fused``) work on
a DCell's configuration, layout and packed parameters. ``DCell`` imports both, so they name what
they read through this protocol instead of importing ``DCell`` back (no import circle, type-only
ones included); ``DCell`` satisfies it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import torch

from dcellx.nn.config import ModelConfig
from dcellx.nn.genes import GeneInput
from dcellx.nn.layout import ModelLayout
from dcellx.ontology.compiled import CompiledOntology


class PackedModel(Protocol):
    """A DCell's configuration, layout and packed parameters (``dcellx.nn.dcell``)."""

    cfg: ModelConfig
    onto: CompiledOntology
    layout: ModelLayout
    genes: GeneInput
    # per bucket, at the bucket's ``weight`` index (``layout.strata[s].buckets[k].weight``)
    weights: Sequence[torch.Tensor]  # per bucket [T_k, out_pad, fan_pad]
    deep_weights: Sequence[torch.Tensor]  # per bucket [depth - 1, T_k, out_pad, out_pad]
    bias: torch.Tensor  # [N]
    deep_bias: torch.Tensor  # [depth - 1, N]
    norm_weight: torch.Tensor  # [depth or 0, N]
    norm_bias: torch.Tensor
    running_mean: torch.Tensor  # [depth or 0, N]
    running_var: torch.Tensor
    norm_steps: torch.Tensor  # training steps taken (a long scalar)
    aux_weight: torch.Tensor  # [N]
    aux_bias: torch.Tensor  # [T]
    head_weight: torch.Tensor  # [w_root]
    head_bias: torch.Tensor  # [1]
    root_const: torch.Tensor  # [w_root] or empty
