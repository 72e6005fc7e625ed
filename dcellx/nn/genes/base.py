"""``GeneInput``: the interface every gene-input kind implements, and what the kinds share.

Every variant's gene block enters a term through that term's Linear, so the engine only needs its
contribution to the pre-activations, ``gene_pre`` [N neurons, B]. A genotype deletes 1-3 genes, so
each kind is written as (wild-type part, computed once per forward, batch-independent) plus
(corrections for the perturbed genes), both O(what is perturbed); each kind's module gives its
formula. The Lua gene layers output a state-like block (``extra`` rows) instead; see ``DCell``.

"Disrupted" always means disrupted *and visible* under the ``deletion_rule``: the layout's
per-gene perturbation lists hold only the visible incidences (``dcellx.nn.deletion``).

A kind is one module of this package: a ``GeneInput`` subclass that registers its parameters
(under the names checkpoints and tests know, ``genes.gene_w`` ...), computes ``forward`` and
converts its parameters to and from the term-named state (``dcellx.nn.term_state``); the
registry (``dcellx.nn.genes.registry``) maps the configuration's name to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from dcellx.batch import PerturbationBatch
from dcellx.nn.layout import ModelLayout


def expand_csr(
    ptr: torch.Tensor, items: torch.Tensor, keys: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """For each key k (with repetition), its CSR items ``items[ptr[k]:ptr[k+1]]``.
    Returns (which key position each item came from, item)."""
    starts = ptr[keys]
    lens = ptr[keys + 1] - starts
    which = torch.repeat_interleave(torch.arange(len(keys), device=keys.device), lens)
    offs = torch.arange(len(which), device=keys.device) - torch.repeat_interleave(
        torch.cumsum(lens, 0) - lens, lens
    )
    return which, items[starts[which] + offs]


@dataclass
class GeneContribution:
    """Gene part of every term's pre-activation: ``base`` [N] (batch-independent, may be None)
    plus sparse entries (neuron, sample, value) grouped by stratum (``ptr`` [S+1])."""

    base: torch.Tensor | None
    neuron: torch.Tensor
    sample: torch.Tensor
    value: torch.Tensor
    ptr: list[int]


class GeneInput(nn.Module):
    """Owns the gene-side parameters and produces ``gene_pre`` (or Lua's ``extra`` rows).

    A kind overrides ``forward`` and, for its parameters, the term-state methods below and
    ``l2_parameters``; the defaults are those of a kind with no such parameter."""

    kind: ClassVar[str]  # the name it is registered under (``ModelConfig`` variant / gene layer)

    def __init__(self, layout: ModelLayout) -> None:
        super().__init__()
        L, cfg = layout, layout.cfg
        self.layout, self.cfg = L, cfg
        self.num_neurons = L.num_neurons
        buf = self._buffer
        buf("gene_elem_ptr", L.gene_elem_ptr)
        buf("gene_elems", L.gene_elems)
        buf("elem_neuron", L.elem_neuron)
        buf("elem_gene", L.elem_gene)
        buf("gene_inc_ptr", L.gene_inc_ptr)
        buf("gene_incs", L.gene_incs)
        buf("inc_gene", L.inc_gene)
        has = L.direct > 0
        self.gterms = torch.from_numpy(has.nonzero()[0])  # terms with direct genes
        tg = torch.full((len(L.width),), -1, dtype=torch.long)
        tg[self.gterms] = torch.arange(len(self.gterms))
        buf("term_to_g", tg)
        buf("inc_tg", tg[torch.from_numpy(L.inc_term)])
        gneur = torch.from_numpy(has[L.term_of_neuron].nonzero()[0])
        buf("gneurons", gneur)  # neurons of terms with genes
        buf("gneuron_tg", tg[torch.from_numpy(L.term_of_neuron)][gneur])
        # neuron -> row of gene_P; term -> its neurons (CSR); term -> stratum
        grow = torch.full((L.num_neurons,), -1, dtype=torch.long)
        grow[gneur] = torch.arange(len(gneur))
        buf("gneuron_row", grow)
        buf("neuron_ptr", torch.from_numpy(L.offset))
        buf("neuron_ids", torch.arange(L.num_neurons))
        buf("stratum_of_term", torch.from_numpy(L.onto.strata))

    def _buffer(self, name: str, value) -> None:
        """An index tensor derived from the layout: moves with the model, never saved."""
        self.register_buffer(name, torch.as_tensor(value), persistent=False)

    # -- the interface -------------------------------------------------------------------------
    def forward(self, batch: PerturbationBatch) -> GeneContribution | torch.Tensor:
        """A ``GeneContribution`` for the direct kinds; a Lua gene layer's output [N_extra, B]
        (a dense input block)."""
        raise NotImplementedError

    def l2_parameters(self) -> list[torch.Tensor]:
        """The weight matrices the L2 term penalises (biases excluded)."""
        return []

    def shared_state(self) -> dict[str, torch.Tensor]:
        """Term-named tensors shared by every term (``gene_embedding.weight`` ...), detached."""
        return {}

    def load_shared_state(self, state: dict[str, torch.Tensor]) -> None:
        """Inverse of ``shared_state`` (under ``torch.no_grad``)."""

    def term_gene_columns(self, t: int) -> torch.Tensor | None:
        """Term t's gene block of ``terms.<t>.weight`` ([w_t, gene_in_t]; t has direct genes),
        or None when the kind's genes enter through a layer of their own (Lua)."""
        return None

    def load_term_gene_columns(self, t: int, block: torch.Tensor) -> None:
        """Inverse of ``term_gene_columns`` (under ``torch.no_grad``)."""

    def term_layer_state(self, t: int, tid: str) -> dict[str, torch.Tensor]:
        """A Lua gene layer's ``genes.<tid>.*`` tensors of term t (t has direct genes)."""
        return {}

    def load_term_layer_state(self, t: int, tid: str, state: dict[str, torch.Tensor]) -> None:
        """Inverse of ``term_layer_state`` (under ``torch.no_grad``)."""

    # initial values (``dcellx.nn.init.init_term_state``, one generator in a fixed order: the
    # shared state first, then per term its layer state before the term's own Linear)
    @classmethod
    def initial_shared_state(
        cls, layout: ModelLayout, gen: torch.Generator, dtype: torch.dtype
    ) -> dict[str, torch.Tensor]:
        """Initial ``shared_state`` drawn from ``gen``."""
        return {}

    @classmethod
    def initial_layer_state(
        cls, layout: ModelLayout, t: int, tid: str, gen: torch.Generator, dtype: torch.dtype
    ) -> dict[str, torch.Tensor]:
        """Initial ``term_layer_state`` of term t (t has direct genes) drawn from ``gen``."""
        return {}

    # -- helpers of several kinds --------------------------------------------------------------
    def _perturbed_elements(
        self, batch: PerturbationBatch
    ) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """(batch row, element) for every element of every perturbed gene, grouped by stratum,
        and the per-stratum pointer into them."""
        S = self.layout.onto.num_strata
        dev = batch.gene.device
        keys = (batch.gene.unsqueeze(0) * S + torch.arange(S, device=dev).unsqueeze(1)).view(-1)
        which, elems = expand_csr(self.gene_elem_ptr, self.gene_elems, keys)
        lens = (self.gene_elem_ptr[keys + 1] - self.gene_elem_ptr[keys]).view(S, -1).sum(1)
        ptr = [0] + torch.cumsum(lens, 0).tolist()
        return batch.sample.repeat(S)[which], elems, ptr

    def _perturbed_incidences(self, batch: PerturbationBatch) -> tuple[torch.Tensor, torch.Tensor]:
        which, incs = expand_csr(self.gene_inc_ptr, self.gene_incs, batch.gene)
        return batch.sample[which], incs

    def _element_range(self, t: int) -> tuple[int, int, int]:
        """(first element, end element, direct genes) of term t in the element order."""
        L = self.layout
        i0, i1 = int(L.gene_ptr[t]), int(L.gene_ptr[t + 1])
        return int(L.inc_elem_start[i0]), int(L.inc_elem_start[i1]), i1 - i0

    def _element_block(self, flat: torch.Tensor, t: int) -> torch.Tensor:
        """Term t's columns [w_t, n * k] from per-element parameters ``flat`` [E] or [E, k]
        (element = (incidence, unit), incidence-major)."""
        e0, e1, n = self._element_range(t)
        w = int(self.layout.width[t])
        block = flat[e0:e1].view(n, w, -1)  # [n, w, d or 1]
        return block.permute(1, 0, 2).reshape(w, -1)

    def _load_element_block(self, flat: torch.Tensor, t: int, block: torch.Tensor) -> None:
        """Inverse of ``_element_block``: write term t's columns [w_t, n * k] into ``flat``."""
        e0, e1, n = self._element_range(t)
        w = int(self.layout.width[t])
        G = block.reshape(w, n, -1).permute(1, 0, 2)  # [n, w, d]
        flat[e0:e1] = G.reshape(flat[e0:e1].shape)


class EmbeddingInput(GeneInput):
    """What the embedding kinds share: a learned vector e_g per gene (``embedding`` [G, d]),
    placed as s_g e_g (s_g = 1 present, 0 deleted), and the set functions (``set_modules``:
    submodules named as in the term-named state) some of them put on top."""

    set_modules: ClassVar[tuple[str, ...]] = ()

    def __init__(self, layout: ModelLayout) -> None:
        super().__init__(layout)
        self.embedding = nn.Parameter(
            torch.zeros(layout.onto.num_genes, layout.cfg.embedding_dim),
            requires_grad=layout.cfg.embedding_learned,
        )

    def l2_parameters(self) -> list[torch.Tensor]:
        out = [self.embedding] if self.embedding.requires_grad else []
        for mod in self.set_modules:
            out += [p for n, p in getattr(self, mod).named_parameters() if n.endswith("weight")]
        return out

    def shared_state(self) -> dict[str, torch.Tensor]:
        out = {"gene_embedding.weight": self.embedding.detach().clone()}
        for mod in self.set_modules:
            for k, v in getattr(self, mod).state_dict().items():
                out[f"{mod}.{k}"] = v.detach().clone()
        return out

    def load_shared_state(self, state: dict[str, torch.Tensor]) -> None:
        self.embedding.copy_(state["gene_embedding.weight"])
        for mod in self.set_modules:
            sub = {k[len(mod) + 1 :]: v for k, v in state.items() if k.startswith(mod + ".")}
            getattr(self, mod).load_state_dict(sub)

    @classmethod
    def initial_shared_state(
        cls, layout: ModelLayout, gen: torch.Generator, dtype: torch.dtype
    ) -> dict[str, torch.Tensor]:
        """e_g ~ N(0, embedding_init_std^2); a kind with set functions adds theirs after it."""
        shape = (layout.onto.num_genes, layout.cfg.embedding_dim)
        e = torch.randn(*shape, generator=gen, dtype=dtype) * layout.cfg.embedding_init_std
        return {"gene_embedding.weight": e}
