"""The key schema of the term-named state, written once.

A DCell's state outside the engine's packing is named by GO term, as ``ReferenceDCell``'s
``state_dict`` names its modules (``terms.GO:0006281.weight`` ...): checkpoints, the initial
state (``dcellx.nn.init``), the conversion to and from the packing (``dcellx.nn.term_state``) and
the Lua importer all build names with these functions. A prefix takes ``.weight``, ``.bias`` and,
for a BatchNorm, ``.running_mean`` and ``.running_var``. Gene inputs name their own tensors
(``dcellx.nn.genes``).
"""

from __future__ import annotations

HEAD = "head"  # the root's prediction head
NORM_STEPS = "norm_steps"  # training steps taken (BatchNorm's freeze counter)


def term(tid: str) -> str:
    """Term ``tid``'s Linear (its first layer)."""
    return f"terms.{tid}"


def deep(tid: str, k: int) -> str:
    """Term ``tid``'s Linear of layer ``k`` >= 1 (depth > 1)."""
    return f"deep.{tid}.{k}"


def norm(tid: str, k: int = 0) -> str:
    """Term ``tid``'s normalisation of layer ``k``."""
    return f"norms.{tid}" if k == 0 else f"deep_norms.{tid}.{k}"


def aux(tid: str) -> str:
    """Term ``tid``'s auxiliary head (every term but the root)."""
    return f"aux.{tid}"
