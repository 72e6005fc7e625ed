"""``DCell``: the fast engine. No Python loop over terms or samples in the forward pass.

The model holds the plan (``ModelLayout``: strata, buckets, index tensors), the parameters packed
per bucket and its diagnostics switches; ``forward`` runs the engine named at construction
(``dcellx.nn.engines``), a function over the model and a batch: ``fused`` (the default;
``dcellx.nn.fused``: hand-written backward, states in the slot layout of ``dcellx.nn.slots``) or
``autograd`` (``dcellx.nn.autograd_engine``: stratum by stratum, one padded ``bmm`` per bucket);
``engine_note`` says why a model runs on autograd when it named another engine.
Parameters live packed per bucket; ``term_state_dict``/``load_term_state_dict``
(``dcellx.nn.term_state``) convert to and from the per-GO-term names of ``ReferenceDCell`` (used
for checkpoints, so they are inspectable by id).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dcellx.batch import EncodedGenotypes, PerturbationBatch, pair_capacity
from dcellx.nn.buffers import BufferPool
from dcellx.nn.config import ModelConfig
from dcellx.nn.engines import choose_engine
from dcellx.nn.genes import make_gene_input
from dcellx.nn.init import init_term_state
from dcellx.nn.layout import ModelLayout
from dcellx.nn.ops import SegmentPlan
from dcellx.nn.slots import SlotPlan
from dcellx.nn.term_state import load_term_state, term_state
from dcellx.ontology.compiled import CompiledOntology


class DCell(nn.Module):
    r"""The visible neural network DCell of Ma et al. (2018), one subsystem per GO term.

    Every term t of the ontology has :math:`w_t` neurons; its state is computed from its input

    .. math::
        I(t) = \big[\, O(c_1) \,\|\, \dots \,\|\, O(c_k) \,\|\, g_t(x) \,\|\, 1 \,\big],
        \qquad c_1, \dots, c_k \in \mathrm{children}(t),

    the concatenation of its children's states (in ``onto.children(t)`` order), its gene block
    :math:`g_t(x)` (empty when t has no direct gene) and, for the root under
    ``root_extra_input="constant-one"`` only, a constant 1. The gene block of the binary variant
    is :math:`x_g` for :math:`g \in \mathrm{direct}(t)`, :math:`x_g = 1` for a gene disrupted
    and visible to t under ``deletion_rule`` (``gene_state="disrupted-one"``) or its complement
    :math:`1 - x_g` (``"present-one"``); the other variants (embeddings, the Lua gene layers) are
    tabulated in ``dcellx.nn.layout``. With ``block="linear-tanh-norm"`` (the paper) the term's
    state is

    .. math::
        O(t) = \mathrm{Norm}\big(\tanh(W_t I(t) + b_t)\big),
        \qquad W_t \in \mathbb{R}^{w_t \times |I(t)|},

    and with ``"linear-norm-tanh"`` :math:`O(t) = \tanh(\mathrm{Norm}(W_t I(t) + b_t))`.
    ``Norm`` is ``cfg.norm``: ``"batch"`` BatchNorm per neuron over the batch (running
    statistics in eval mode), ``"batch-frozen"`` the same but with the running statistics also in
    training once ``bn_freeze_after`` training steps are done, ``"layer"`` LayerNorm over the
    term's own :math:`w_t` neurons, ``"none"`` the identity (``dcellx.nn.norm``). With
    ``depth`` D > 1 the block is repeated: :math:`h^{(1)}` as above, :math:`h^{(k)} =
    \mathrm{block}(W^{(k)}_t h^{(k-1)} + b^{(k)}_t)` with :math:`W^{(k)}_t \in \mathbb{R}^{w_t
    \times w_t}` and its own normalisation, and :math:`O(t) = h^{(D)}`. Widths are

    .. math::
        w_t = \max\big(f,\ \rho(m \, n_t)\big),

    :math:`f` = ``width_floor``, :math:`m` = ``width_multiplier``, :math:`\rho` = ceil or floor
    (``width_rounding``), :math:`n_t` the genes contained in t (``width_basis="contained"``) or
    annotated to t itself (``"direct"``). The root's prediction and every other term's auxiliary
    head are

    .. math::
        \hat y = v_{\mathrm{root}}^\top O(\mathrm{root}) + c_{\mathrm{root}}, \qquad
        \hat y_t = \sigma\big(v_t^\top u_t + c_t\big) \quad (t \ne \mathrm{root}),

    with :math:`u_t = O(t)` (``aux_input="state"``) or the last layer's first activation,
    :math:`\tanh(z)` resp. :math:`\mathrm{Norm}(z)` before the block's second step
    (``"pre-norm"``), and :math:`\sigma = \tanh` (``aux_head="tanh-linear"``) or the identity
    (``"linear"``). Training minimises (``dcellx.nn.loss.dcell_loss``)

    .. math::
        \mathcal{L} = \frac{1}{B}\sum_b (\hat y_b - y_b)^2
        + \alpha \, \underset{t \ne \mathrm{root}}{R} \frac{1}{B}\sum_b (\hat y_{t,b} - y_b)^2
        + \lambda \sum_W \lVert W \rVert_F^2,

    :math:`R` the sum (``aux_reduce="sum"``, the paper) or the mean (``"mean"``) over the
    :math:`T - 1` non-root terms, :math:`\alpha` = ``alpha`` (decayed by
    ``dcellx.nn.loss.alpha_at``), :math:`\lambda` = ``l2`` over the weight matrices of
    ``l2_parameters`` (term, deep, gene and head weights; biases and norm parameters excluded).

    The forward pass runs stratum by stratum (see the module docstring), all terms of a stratum
    at once; ``ReferenceDCell`` computes the same function term by term.

    Args:
        onto (CompiledOntology): the ontology; terms are numbered by stratum, the root last.
        cfg (ModelConfig): the architecture (``dcellx.nn.config``).
        layout (ModelLayout, optional): a prebuilt ``ModelLayout(onto, cfg)``.
        engine (str): the engine's name in ``dcellx.nn.engines.ENGINES``; one that does not
            support ``cfg`` gives way to ``autograd`` (``engine``: the engine that runs,
            ``engine_note``: why, or ``None``).
        seed (int): the initial parameters are ``dcellx.nn.init.init_term_state(layout, seed)``,
            the same function for every engine and for ``ReferenceDCell``.

    Shapes:
        - **input:** a ``PerturbationBatch`` of B genotypes, its K disrupted (sample, gene)
          pairs ``sample`` [K], ``gene`` [K] (int64; ``y`` is not read).
        - **output:** the root prediction :math:`\hat y` [B] and the auxiliary outputs
          :math:`\hat y_t` [B, T-1], column t for term t of ``onto.term_ids`` (the root, last,
          has none).

    Diagnostics: with ``keep_states`` the last forward's states of all N neurons are kept in
    ``last_states`` [N, B]; when ``trace`` is a list, forward appends (stratum, layer, z, pre, h)
    per stratum and layer.
    """

    def __init__(
        self,
        onto: CompiledOntology,
        cfg: ModelConfig,
        layout: ModelLayout | None = None,
        engine: str = "fused",
        seed: int = 0,
    ):
        super().__init__()
        self.onto, self.cfg = onto, cfg
        self.engine, self.engine_note = choose_engine(engine, cfg)
        self.layout = L = layout or ModelLayout(onto, cfg)
        N, T = L.num_neurons, onto.num_terms
        self.genes = make_gene_input(L)  # a GeneInput of the configuration's kind
        self.keep_states = False
        # diagnostics: when a list, forward appends (stratum, layer, z, pre, h) detached
        self.trace: list | None = None
        self.last_states: torch.Tensor | None = None
        self.weights = nn.ParameterList()
        self.deep_weights = nn.ParameterList()
        # Fan-out of every source (a stratum's states, or Lua's gene-layer rows): one gather of
        # all rows any later stratum reads, split per consumer. Gathering per (consumer, source)
        # instead would zero-fill a full-size source gradient for every consumer in backward.
        consumers: dict[int, list[tuple[int, np.ndarray]]] = {}
        for s, plan in enumerate(L.strata):
            for src, rows in plan.sources:
                consumers.setdefault(src, []).append((s, rows))
        # source -> (consumer strata, rows each): how the autograd engine splits the gather
        self.fanout: dict[int, tuple[list[int], list[int]]] = {}
        for src, uses in consumers.items():
            rows = np.concatenate([r for _, r in uses])
            self.register_buffer(f"fan_{src + 1}", torch.from_numpy(rows), persistent=False)
            self.fanout[src] = ([s for s, _ in uses], [len(r) for _, r in uses])
        for s, plan in enumerate(L.strata):
            for k, b in enumerate(plan.buckets):
                assert b.weight == len(self.weights)  # the layout numbers the packed weights
                self.weights.append(nn.Parameter(torch.zeros(len(b.terms), b.out_pad, b.fan_pad)))
                if cfg.depth > 1:
                    # pad map: padded output row -> stratum-local neuron, or the zero row N_s
                    loc = np.where(
                        b.out_pos >= 0,
                        b.out_pos - plan.neurons[0],
                        plan.neurons[1] - plan.neurons[0],
                    )
                    self.register_buffer(f"pad_{s}_{k}", torch.from_numpy(loc), persistent=False)
                    self.deep_weights.append(
                        nn.Parameter(torch.zeros(cfg.depth - 1, len(b.terms), b.out_pad, b.out_pad))
                    )
            # one gather per stratum for all its buckets (a gather per bucket would zero-fill the
            # whole stratum input once per bucket in the backward pass)
            in_rows = np.concatenate([b.in_rows for b in plan.buckets])
            self.register_buffer(f"in_{s}", torch.from_numpy(in_rows), persistent=False)
            self.register_buffer(f"unpad_{s}", torch.from_numpy(plan.unpad), persistent=False)
            local_term = L.term_of_neuron[plan.neurons[0] : plan.neurons[1]] - plan.terms[0]
            self.register_buffer(f"lterm_{s}", torch.from_numpy(local_term), persistent=False)
        self.bias = nn.Parameter(torch.zeros(N))
        self.deep_bias = nn.Parameter(torch.zeros(max(cfg.depth - 1, 0), N))
        n_norm = cfg.depth if cfg.norm != "none" else 0
        self.norm_weight = nn.Parameter(torch.ones(n_norm, N))
        self.norm_bias = nn.Parameter(torch.zeros(n_norm, N))
        n_run = cfg.depth if cfg.norm in ("batch", "batch-frozen") else 0
        self.register_buffer("running_mean", torch.zeros(n_run, N))
        self.register_buffer("running_var", torch.ones(n_run, N))
        self.register_buffer("norm_steps", torch.zeros((), dtype=torch.long))
        self.aux_weight = nn.Parameter(torch.zeros(N))  # root's entries unused (kept at zero)
        self.aux_bias = nn.Parameter(torch.zeros(T))
        self.head_weight = nn.Parameter(torch.zeros(int(L.width[onto.root])))
        self.head_bias = nn.Parameter(torch.zeros(1))
        # root_extra_input: W_root[:, last] times the constant 1, a second root bias; the root is
        # alone in the top stratum, so it is added to that stratum's pre-activations
        assert L.strata[-1].terms.tolist() == [onto.root]
        self.root_const = nn.Parameter(torch.zeros(int(L.width[onto.root]) * L.root_extra))
        self.register_buffer("term_of_neuron", torch.from_numpy(L.term_of_neuron), persistent=False)
        # the fused engine's slot layout (dcellx.nn.slots) and its working memory
        self.slot_plan = SlotPlan(L)
        sp = self.slot_plan
        for name in ("slot_of_neuron", "neuron_of_slot", "aux_terms", "aux_row_of_term"):
            self.register_buffer(f"slots_{name}", torch.from_numpy(getattr(sp, name)), False)
        for s, st in enumerate(sp.strata):
            self.register_buffer(f"slots_in_{s}", torch.from_numpy(st.in_rows), persistent=False)
            # the order of the backward's scatter-add of dX into dH (dcellx.nn.ops.SegmentPlan)
            plan = SegmentPlan.of(st.in_rows, keep=st.in_rows != sp.zero_row)
            for part in ("order", "target", "lengths"):
                self.register_buffer(f"slots_in_{part}_{s}", getattr(plan, part), False)
        self.slot_buffers = BufferPool()
        self.load_term_state_dict(init_term_state(L, seed))

    # -- what the engines read, and the forward -----------------------------------------------
    def stratum_weight_grad_norms(self) -> list[float]:
        """L2 norm of the term-Linear weight gradients per stratum (after a backward pass)."""
        out = []
        for plan in self.layout.strata:
            sq = 0.0
            for b in plan.buckets:
                g = self.weights[b.weight].grad
                if g is not None:
                    sq += float((g * g).sum())
            out.append(sq**0.5)
        return out

    @property
    def slot_index(self) -> dict:
        """The slot plan's index tensors, on the model's device."""
        names = ("slot_of_neuron", "neuron_of_slot", "aux_terms", "aux_row_of_term")
        out = {n: getattr(self, f"slots_{n}") for n in names}
        S = range(len(self.layout.strata))
        out["in_rows"] = [getattr(self, f"slots_in_{s}") for s in S]
        parts = ("order", "target", "lengths")
        out["in_plan"] = [
            SegmentPlan(*(getattr(self, f"slots_in_{p}_{s}") for p in parts)) for s in S
        ]
        return out

    @property
    def autograd_index(self) -> dict:
        """The autograd engine's index tensors, on the model's device: per stratum ``in`` (its
        input rows in bucket order), ``unpad``, ``lterm`` (each neuron's stratum-local term),
        ``pad`` (per bucket, depth > 1); per source ``fan`` (the rows later strata read)."""
        S = range(len(self.layout.strata))
        out = {n: [getattr(self, f"{n}_{s}") for s in S] for n in ("in", "unpad", "lterm")}
        out["pad"] = [
            [getattr(self, f"pad_{s}_{k}") for k in range(len(self.layout.strata[s].buckets))]
            if self.cfg.depth > 1
            else []
            for s in S
        ]
        out["fan"] = {src: getattr(self, f"fan_{src + 1}") for src in self.fanout}
        return out

    def set_static_shapes(self, enc: EncodedGenotypes, batch_size: int) -> int:
        """Fix the shapes of every forward on batches of ``batch_size`` genotypes of ``enc`` (a
        CUDA graph replays one set of shapes): the gene entries per stratum get the capacity
        ``GeneInput.entry_capacity_for`` gives them; returns the pair capacity, to be passed
        to ``make_batch(enc, rows, pairs=...)``. The term-vector embedding kinds (pooled,
        deepset, attention) keep batch-dependent shapes (``dcellx.nn.genes.term_vectors``)."""
        self.genes.set_entry_capacity(self.genes.entry_capacity_for(enc, batch_size))
        return pair_capacity(enc, batch_size)

    def forward(self, batch: PerturbationBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """``batch`` (B genotypes) -> (root prediction [B], auxiliary outputs [B, T-1]) on the
        model's engine (``dcellx.nn.engines``)."""
        return self.engine.forward(self, batch)

    def l2_parameters(self) -> list[torch.Tensor]:
        """Weight matrices penalised by the L2 term (biases and norm parameters excluded)."""
        out = list(self.weights) + list(self.deep_weights) + [self.aux_weight, self.head_weight]
        out.append(self.root_const)
        return out + self.genes.l2_parameters()

    # -- parameter counting ------------------------------------------------------------------
    def num_parameters(self) -> int:
        """True parameter count (bucket padding and unused slots excluded), from the layout:
        building the term-named state to count it cost ~0.5 s on the full-GO paper model."""
        return self.layout.num_parameters()

    # -- term-named state (dcellx.nn.term_state) ---------------------------------------------
    def term_state_dict(self) -> dict[str, torch.Tensor]:
        """State in ``ReferenceDCell`` names (``terms.GO:0006281.weight`` ...), detached copies."""
        return term_state(self)

    def load_term_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Inverse of ``term_state_dict``: fill the packed parameters from per-term tensors."""
        load_term_state(self, state)
