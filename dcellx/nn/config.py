"""``ModelConfig``: every architectural choice of DCell as one validated object, plus presets.

``paper`` follows Ma et al. (2018) exactly; ``lua`` the final released Lua file; ``lua-released``
the model the released Lua code actually trained and saved (``GO_0006281_Net_Last.t7``);
``torchcell`` torchcell's DCell, its mistakes included so that each can be measured on its own;
``dcell-new`` the users' updated model of May 2025. The evidence behind every choice of
``lua-released`` and ``dcell-new`` is in ``docs/presets.md``. Any field can be overridden from the
CLI; an override of a preset is recorded in the run's resolved config, never applied silently.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dcellx.errors import ConfigError, config_error

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

    # every float must be finite: an inf or NaN lever only ever trains to NaN
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    preset: Literal["paper", "lua", "lua-released", "torchcell", "dcell-new"] = "paper"
    variant: Variant = "binary"
    # Subsystem block. paper: O(t) = BatchNorm(tanh(W I + b)); torchcell: tanh(BatchNorm(W I + b)).
    block: Literal["linear-tanh-norm", "linear-norm-tanh"] = "linear-tanh-norm"
    norm: Literal["batch", "batch-frozen", "layer", "none"] = "batch"
    bn_freeze_after: int = Field(0, ge=0)  # batch-frozen: steps of batch statistics before freezing
    bn_momentum: float = Field(0.1, ge=0, le=1)  # running = (1 - m) running + m batch
    bn_eps: float = Field(1e-5, gt=0)
    # Widths: max(floor, round(multiplier * n)), n = genes contained by (or annotated to) t.
    width_floor: int = Field(20, ge=1)
    width_multiplier: float = Field(0.3, gt=0)
    width_rounding: Literal["ceil", "floor"] = "ceil"
    width_basis: Literal["contained", "direct"] = "contained"
    depth: int = Field(1, ge=1)  # Linear-act-norm layers per subsystem (paper: 1)
    # Genes: "direct" = gene inputs concatenated into I(t) (paper); "masked-layer" = the Lua code's
    # per-term masked Linear(genes -> width) whose output joins the children's states;
    # "dense-layer" = the same layer over *every* gene of the ontology, unmasked (what the saved
    # Lua model is: its mask was never applied, see docs/presets.md).
    gene_layer: Literal["direct", "masked-layer", "dense-layer"] = "direct"
    # Auxiliary heads: Linear(O(t)) -> 1 (paper); the Lua code: Tanh(Linear(.)) on the pre-norm
    # tanh output.
    aux_head: Literal["linear", "tanh-linear"] = "linear"
    aux_input: Literal["state", "pre-norm"] = "state"
    # Init: torch default (paper), Lua's default x 0.001 on weights (x 0.01: the Lua training
    # script that shipped the saved model), torchcell's U(+-0.001).
    init: Literal["default", "lua-scaled", "lua-scaled-0.01", "uniform-0.001"] = "default"
    # Loss: root MSE + alpha * reduce_t aux MSE; reduce "sum" (paper) or "mean" (torchcell's bug).
    alpha: float = Field(0.3, ge=0)
    aux_reduce: Literal["sum", "mean"] = "sum"
    alpha_decay_epochs: int = Field(0, ge=0)  # >0: alpha decays linearly to 0 over N epochs
    l2: float = Field(0.0, ge=0)
    # Bit vector of the binary variant (and of the Lua masked gene layer): "disrupted-one" = the
    # paper's x_g (1 = disrupted, 0 = wild type); "present-one" = torchcell's mutant state
    # s_g = 1 - x_g (1 = present, 0 = deleted). The embedding variants always place s_g e_g.
    gene_state: Literal["disrupted-one", "present-one"] = "disrupted-one"
    # "constant-one": the root's Linear gets one more input column held at 1 (torchcell's GO:ROOT
    # "gene state", never perturbed); it is stored as the last column of terms.<root>.weight.
    root_extra_input: Literal["none", "constant-one"] = "none"
    # Which deletions a term sees (``dcellx.nn.deletion``): "exact" = every deleted gene in every
    # term it is directly annotated to; "torchcell-index-guard" = the deletion of g in t only when
    # g's vocabulary position < |direct(t)| (torchcell's defect, emulated; off by default).
    deletion_rule: Literal["exact", "torchcell-index-guard"] = "exact"
    # Embedding variants.
    embedding_dim: int = Field(8, ge=1)
    # e_g ~ N(0, embedding_init_std^2) at initialisation (1.0: torch's nn.Embedding default).
    embedding_init_std: float = Field(1.0, gt=0)
    # False: e_g keeps its seeded random initial value (a fixed random code, not trained and not
    # penalised): the control that tells a learned embedding's effect from its extra parameters.
    embedding_learned: bool = True
    deepset_hidden: int = Field(16, ge=1)
    attention_heads: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        if self.variant == "embedding-attention" and self.embedding_dim % self.attention_heads:
            raise ValueError("embedding_dim must be divisible by attention_heads")
        if self.gene_layer != "direct" and self.variant != "binary":
            raise ValueError("the Lua gene layers exist for the binary variant only")
        if self.gene_layer == "dense-layer" and self.deletion_rule != "exact":
            raise ValueError(
                "deletion_rule: the dense gene layer reads every gene in every term; "
                "only 'exact' is defined for it"
            )
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
    "lua-released": {
        "width_floor": 10,
        "width_multiplier": 0.2,
        "width_rounding": "floor",
        "gene_layer": "dense-layer",
        "block": "linear-norm-tanh",
        "aux_head": "tanh-linear",
        "aux_input": "state",
        "init": "lua-scaled-0.01",
        "alpha": 0.3,
    },
    "torchcell": {
        "block": "linear-norm-tanh",
        "width_basis": "direct",
        "init": "uniform-0.001",
        "aux_reduce": "mean",
    },
    "dcell-new": {
        "block": "linear-tanh-norm",
        "width_basis": "direct",
        "width_rounding": "floor",
        "init": "default",
        "gene_state": "present-one",
        "root_extra_input": "constant-one",
        "alpha": 0.3,
        "aux_reduce": "mean",
    },
}


def make_config(preset: str = "paper", **overrides: object) -> ModelConfig:
    """Preset values, then explicit overrides (``None`` values are ignored)."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    values = {"preset": preset, **PRESETS[preset]}
    if preset in ("lua", "lua-released") and overrides.get("variant", "binary") != "binary":
        # the Lua gene layers are defined on bits; embeddings enter the term Linear directly
        values["gene_layer"] = "direct"
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return ModelConfig(**values)
    except ValidationError as exc:
        raise config_error(exc, "model") from None
