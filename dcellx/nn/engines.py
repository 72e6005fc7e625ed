"""Engines: how a ``DCell``'s forward (and so its backward) is computed, chosen by name.

An engine is a name, ``supports(cfg)`` (``None`` when it computes that configuration, else the
reason it does not) and ``forward(model, batch)``. ``DCell(onto, cfg, engine=name)`` looks the
name up in ``ENGINES`` once, at construction (``choose_engine``); an engine that does not support
the configuration gives way to ``autograd``, which supports every one, and the reason is kept in
``DCell.engine_note`` (recorded in the run's ``config.json``). The engines compute the same
function; rounding differs in the last bits, so a run resumes on the engine it began with.

* ``autograd``: ``dcellx.nn.autograd_engine``, torch's autograd over packed per-bucket ``bmm``.
* ``fused``: ``dcellx.nn.fused``, a hand-written backward over reused buffers in the slot layout.
  Three conditions are states of the process rather than of the configuration, so they are
  checked per forward and send that forward to autograd: a diagnostic ``trace``, a multi-process
  batch-statistics reducer (``dcellx.nn.norm.set_batch_stat_reducer``) and autocast (bf16: the
  hand-written backward computes in the parameters' dtype).

A new engine (a CUDA one, say) is one module with its ``forward`` and ``supports``, one
``Engine`` entry in ``ENGINES`` below, and its name among ``RunConfig.engine``'s choices
(``dcellx.train.config``); ``dcellx bench --engine`` takes the names of ``ENGINES``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from dcellx.batch import PerturbationBatch
from dcellx.nn.autograd_engine import AutogradModel, Outputs, autograd_forward
from dcellx.nn.config import ModelConfig
from dcellx.nn.fused import FusedModel, fused_forward, fused_obstacle, fused_supports


class EngineModel(FusedModel, AutogradModel, Protocol):
    """What the engines read of a ``DCell``: its plan, packed parameters and switches."""


@dataclass(frozen=True)
class Engine:
    """One way of computing a DCell's forward (module docstring)."""

    name: str
    supports: Callable[[ModelConfig], str | None]  # None, or why ``cfg`` is not covered
    forward: Callable[[EngineModel, PerturbationBatch], Outputs]


def _fused_or_autograd(model: EngineModel, batch: PerturbationBatch) -> Outputs:
    if fused_obstacle(model) is None:
        return fused_forward(model, batch)
    return autograd_forward(model, batch)


AUTOGRAD = Engine("autograd", lambda cfg: None, autograd_forward)
ENGINES: dict[str, Engine] = {
    "fused": Engine("fused", fused_supports, _fused_or_autograd),
    "autograd": AUTOGRAD,
}


def choose_engine(name: str, cfg: ModelConfig) -> tuple[Engine, str | None]:
    """The engine called ``name`` if it supports ``cfg``, else autograd with the reason why."""
    if name not in ENGINES:
        raise ValueError(f"engine {name!r}: not one of {', '.join(ENGINES)}")
    engine = ENGINES[name]
    why = engine.supports(cfg)
    if why is None:
        return engine, None
    return AUTOGRAD, f"the {name} engine does not support {why}; running on autograd"
