"""``ModelConfig``: every architectural choice of DCell as one validated object, plus presets.

``paper`` follows Ma et al. (2018) exactly; ``lua`` the final released Lua file; ``torchcell`` the
previous rebuild (including its mistakes, on purpose). Any field can be overridden from the CLI;
an override of a preset is recorded in the run's resolved config, never applied silently.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dcellx.errors import ConfigError

Variant = Literal[
    "binary",
    "embedding",
    "embedding-pooled",
    "embedding-deepset",
    "embedding-attention",
]
VARIANTS: tuple[str, ...] = Variant.__args__  # type: ignore[attr-defined]


class ModelConfig(BaseModel):
    """DCell architecture. Defaults are the paper's."""

    model_config = ConfigDict(extra="forbid")

    preset: Literal["paper", "lua", "torchcell"] = "paper"
    variant: Variant = "binary"
    # Subsystem block. paper: O(t) = BatchNorm(tanh(W I + b)); torchcell: tanh(BatchNorm(W I + b)).
    block: Literal["linear-tanh-norm", "linear-norm-tanh"] = "linear-tanh-norm"
    norm: Literal["batch", "batch-frozen", "layer", "none"] = "batch"
    bn_freeze_after: int = Field(0, ge=0)  # batch-frozen: steps of batch statistics before freezing
    bn_momentum: float = 0.1
    bn_eps: float = 1e-5
    # Widths: max(floor, round(multiplier * n)), n = genes contained by (or annotated to) t.
    width_floor: int = Field(20, ge=1)
    width_multiplier: float = Field(0.3, gt=0)
    width_rounding: Literal["ceil", "floor"] = "ceil"
    width_basis: Literal["contained", "direct"] = "contained"
    depth: int = Field(1, ge=1)  # Linear-act-norm layers per subsystem (paper: 1)
    # Genes: "direct" = gene inputs concatenated into I(t) (paper); "masked-layer" = the Lua code's
    # per-term masked Linear(genes -> width) whose output joins the children's states.
    gene_layer: Literal["direct", "masked-layer"] = "direct"
    # Auxiliary heads: Linear(O(t)) -> 1 (paper); the Lua code: Tanh(Linear(.)) on the pre-norm
    # tanh output.
    aux_head: Literal["linear", "tanh-linear"] = "linear"
    aux_input: Literal["state", "pre-norm"] = "state"
    # Init: torch default (paper), Lua's default x 0.001 on weights, torchcell's U(+-0.001).
    init: Literal["default", "lua-scaled", "uniform-0.001"] = "default"
    # Loss: root MSE + alpha * reduce_t aux MSE; reduce "sum" (paper) or "mean" (torchcell's bug).
    alpha: float = Field(0.3, ge=0)
    aux_reduce: Literal["sum", "mean"] = "sum"
    alpha_decay_epochs: int = Field(0, ge=0)  # >0: alpha decays linearly to 0 over N epochs
    l2: float = Field(0.0, ge=0)
    # Embedding variants.
    embedding_dim: int = Field(8, ge=1)
    deepset_hidden: int = Field(16, ge=1)
    attention_heads: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        if self.variant == "embedding-attention" and self.embedding_dim % self.attention_heads:
            raise ValueError("embedding_dim must be divisible by attention_heads")
        if self.gene_layer == "masked-layer" and self.variant != "binary":
            raise ValueError("the Lua masked gene layer exists for the binary variant only")
        return self


PRESETS: dict[str, dict[str, object]] = {
    "paper": {},
    "lua": {
        "width_floor": 10,
        "width_multiplier": 0.2,
        "width_rounding": "floor",
        "gene_layer": "masked-layer",
        "aux_head": "tanh-linear",
        "aux_input": "pre-norm",
        "init": "lua-scaled",
        "alpha": 0.5,
    },
    "torchcell": {
        "block": "linear-norm-tanh",
        "width_basis": "direct",
        "init": "uniform-0.001",
        "aux_reduce": "mean",
    },
}


def make_config(preset: str = "paper", **overrides: object) -> ModelConfig:
    """Preset values, then explicit overrides (``None`` values are ignored)."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    values = {"preset": preset, **PRESETS[preset]}
    if preset == "lua" and overrides.get("variant", "binary") != "binary":
        # the Lua masked gene layer is defined on bits; embeddings enter the term Linear directly
        values["gene_layer"] = "direct"
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return ModelConfig(**values)
    except Exception as exc:  # pydantic.ValidationError -> one line
        errors = getattr(exc, "errors", None)
        if callable(errors):
            e = errors()[0]
            loc = ".".join(str(x) for x in e["loc"]) or "config"
            raise ConfigError(f"{loc}: {e['msg']}") from exc
        raise ConfigError(str(exc)) from exc
