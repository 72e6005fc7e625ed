"""``ModelConfig``: every architectural choice of DCell as one validated object, plus presets.

``paper`` follows Ma et al. (2018) exactly; ``lua`` the final released Lua file; ``lua-released``
the model the released Lua code actually trained and saved (``GO_0006281_Net_Last.t7``; see
``LUA_RELEASED`` below); ``torchcell`` torchcell's DCell, its mistakes included so that each can
be measured on its own; ``dcell-new`` the users' updated model of May 2025 (see ``DCELL_NEW``
below). Any field can be overridden from the CLI; an override of a preset is recorded in the
run's resolved config, never applied silently.
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
    # Lua model is: its mask was never applied, see LUA_RELEASED).
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

DCELL_NEW = """``--preset dcell-new``: ``DCellModel`` of torchcell's
``torchcell/models/dcell_new.py`` as of commit 0c9b6e1601581408feb550b9000bc1ec4ccce48b (May
2025), the model behind the users' 0.45 / 0.80 overfit figures, rebuilt from its facts (no code
taken). Choice by choice, with what torchcell does:

* block "linear-tanh-norm": ``SubsystemModel`` is Linear -> Tanh -> norm, norm one of
  ``batch`` (``BatchNorm1d``, momentum 0.1, eps 1e-5), ``layer`` (``LayerNorm(width)``) or
  ``none``; ``--norm`` selects it here as for every preset. torchcell *skips* BatchNorm when the
  batch holds one sample (train and eval alike); dcellx does not (a batch of one in training is
  an error in torch, in eval mode running statistics are used). This only matters for B = 1.
* init "default": the term Linear keeps PyTorch's default init, U(+-1/sqrt(fan_in)) for weight
  and bias (at this commit; the later commit 393ef286 went back to U(+-0.001), the ``torchcell``
  preset's init), and so do the heads.
* widths "direct" + "floor": w_t = max(20, int(0.3 * |direct(t)|)), direct(t) =
  ``term_to_gene_dict[t]``, the genes annotated to t itself (int() is floor for n >= 0).
* root_extra_input "constant-one": GO:ROOT is built apart, width ``subsystem_output_min`` = 20
  (what the width formula gives a term with no direct gene) and input size sum(children's
  widths) + 1; in the forward pass that extra input is ``ones(B, 1)`` (the root's "gene state",
  never perturbed), placed *before* the children's states. A constant 1 into a Linear is a
  second bias: the same function class, but 20 more parameters, a fan-in one larger for the
  init bound, and a bias that moves twice as fast under SGD. dcellx keeps that column last
  (column order is a permutation of the weight, immaterial); 393ef286 dropped the extra input.
* gene_state "present-one": ``mutant_state`` rows (term, gene, state) carry 1 = present,
  0 = deleted, and a term's gene input is its vector of direct-gene states, initialised to ones.
  Through the Linear, W s + b = -W x + (b + W 1): the same functions as the paper's 1 =
  disrupted, but another initial function and other gradients (every wild-type gene's column
  gets a gradient from every sample).
* heads: ``DCellLinear`` puts one Linear(width -> 1) (default init) on *every* subsystem's
  state; the root's is the prediction, the others are the auxiliary heads (aux_head "linear",
  aux_input "state": the paper's own layout).
* loss root MSE + alpha * aux, alpha = 0.3. aux_reduce defaults to "mean": torchcell's loss
  (``torchcell/losses/dcell.py`` at 007c45e2, whose header still reads ``losses/dcell_new.py``)
  takes ``torch.stack(aux).mean()`` over the non-root subsystems, the averaging the users only
  found later (their issue #554). The preset reproduces what ran; ``--aux-reduce sum`` is the
  paper's loss.
* deletions: torchcell writes the deletion of g into term t only when ``gene_idx < len(genes)``
  (g's index in the 6,607-gene vocabulary against t's direct-gene count) and g is in t's list;
  that guard is ``--deletion-rule torchcell-index-guard``, kept off here ("exact") so that the
  preset and the defect can be measured apart.

Not reproduced, documented: at 0c9b6e16 an input whose size differs from the Linear's is silently
zero-padded or truncated. The only case the graph produces is a non-root term with no direct gene
but with children: its gene state is ``ones(B, max(1, 0))`` = one constant column, so its input
[1, children's states] is one longer than its Linear and the *last neuron of its last child* is
cut off (the term sees a constant 1 instead). At 393ef286 the same case raises an error, so
torchcell builds that ran there had no such term. dcellx gives such a term its children's states
exactly. Padding never occurs (a leaf with no direct gene would get exactly one constant column).
"""

LUA_RELEASED = """``--preset lua-released``: the model the released Lua code actually trained and
saved, ``GO_0006281_Net_Last.t7`` (idekerlab/DCell ``training/model/Net_Last``, Torch7 nngraph),
as ``dcellx import-lua`` finds it module by module (``dcellx.nn.lua_import``). Where it differs
from ``--preset lua`` (the final ``training/code/Binary_GO_NN.lua``), with the evidence:

* gene_layer "dense-layer": each of the 20 terms with direct genes has a gene layer
  ``nn.Linear(162 -> w_t)`` (annotated ``gene_<term>``) over *all* 162 input genes. None of its
  36,450 weights is 0, nor any of the saved last-step gradients (``gradWeight``) on genes outside
  the term, which a gradient mask would have zeroed. The training script beside the file
  (``training/Train_DCell.lua`` at 76df5ba) never masks the initial weights and masks the
  gradients of the nodes whose name does *not* start with ``gene_`` (``~=``; the later script
  has ``==``): no node qualifies, so its mask is dead code. dcellx applies G_t x + c_t over every
  gene of the ontology; the import record gives each term's share of ||G_t||_F^2 on genes
  outside it.
* block "linear-norm-tanh": every term is ``Linear -> BatchNormalization -> Tanh`` (the graph's
  edges), as in ``training/Binary_GO_NN.lua`` at 76df5ba; the final file has Linear -> Tanh -> BN.
* aux_input "state": each auxiliary head ``Tanh(Linear(w_t -> 1))`` reads the term's output, the
  Tanh after BatchNorm that its parents also join (the final file: the pre-norm Tanh).
* init "lua-scaled-0.01" (every Linear weight x 0.01 after the default init, biases not scaled)
  and alpha 0.3 (each auxiliary MSE weighted 0.3 in ``nn.ParallelCriterion``, summed): the .t7
  holds neither; both are the code's at 76df5ba (the final code: x 0.001 and 0.5).

Shared with ``lua``: widths max(10, floor(0.2 n)), n = contained genes (root 32, GO:0006302 13,
every other DNA-repair term 10: the file's shapes), input 1 = disrupted, BatchNorm eps 1e-5 and
momentum 0.1 with running statistics, the root Linear -> BN -> Tanh -> Linear(w -> 1). Its
children enter a term in the topology file's order, then the gene layer; dcellx stores its own
child order and the import permutes the columns. A dense gene layer is N_extra x G parameters:
fine for DNA repair (36,450), 2.2 x 10^8 on the full ``--go 2017`` GO (54,439 rows x 4,096
genes).
"""


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
