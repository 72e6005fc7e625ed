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

**No host sync, fixed shapes.** The sparse corrections are lists of *gene entries* (an element of
a perturbed gene, in a batch row), grouped by stratum (``GeneEntries``). How many there are
depends on which genes the batch perturbs; that number is counted on the host, from the copy of
the batch's genes that ``PerturbationBatch.to`` keeps (``host_genes``), and handed to
``repeat_interleave`` as ``output_size``: the device never has to report a size. For a CUDA
graph the shapes must not change between batches at all. A caller gets batches of one fixed
shape per batch size B from the dataset's encoding ``enc``:

    pairs = model.set_static_shapes(enc, B)   # entry capacities per stratum, fixed on the model
    batch = make_batch(enc, rows, pairs=pairs).to(device)

``set_static_shapes`` fixes each stratum's entries at the most any B genotypes of ``enc`` can
have (``entry_capacity_for``) and returns the most pairs (``dcellx.batch.pair_capacity``);
``make_batch`` pads the pairs with (row 0, ``NO_GENE``), a gene with no elements, and each
stratum's entries are padded at their end with entries whose value is multiplied by 0. A
forward's shapes then depend on B alone; the padding adds exact zeros, so the result is the
same numbers (``tests/nn/test_static_shapes.py``). The binary, flattened-embedding and Lua
kinds run so; the term-vector kinds (``embedding-pooled``, ``-deepset``, ``-attention``) find
the distinct (term, sample) pairs a deletion touches on the host, without a sync, but their
number sizes what follows, so their shapes follow the batch (``dcellx.nn.genes.term_vectors``).
Every scatter-add is reproducible on any device (``dcellx.nn.ops``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from dcellx.batch import NO_GENE, EncodedGenotypes, PerturbationBatch
from dcellx.nn.layout import ModelLayout


def expand_csr(
    ptr: torch.Tensor, items: torch.Tensor, keys: torch.Tensor, total: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """For each key k (with repetition), its CSR items ``items[ptr[k]:ptr[k+1]]``; ``total``:
    their number, known on the host (``repeat_interleave``'s ``output_size``, so no sync).
    Returns (which key position each item came from, item)."""
    starts = ptr[keys]
    lens = ptr[keys + 1] - starts
    dev = keys.device
    which = torch.repeat_interleave(torch.arange(len(keys), device=dev), lens, output_size=total)
    first = torch.cumsum(lens, 0) - lens
    offs = torch.arange(total, device=dev) - first.index_select(0, which)
    return which, items[starts.index_select(0, which) + offs]


@dataclass
class GeneContribution:
    """Gene part of every term's pre-activation: ``base`` [N] (batch-independent, may be None)
    plus sparse entries (neuron, sample, value) grouped by stratum (``ptr`` [S+1], host ints)."""

    base: torch.Tensor | None
    neuron: torch.Tensor
    sample: torch.Tensor
    value: torch.Tensor
    ptr: list[int]


@dataclass
class GeneEntries:
    """The elements every perturbed gene of a batch touches, grouped by stratum: entry i is
    element ``elem[i]`` (on neuron ``neuron[i]``) of batch row ``sample[i]``; stratum s holds
    entries ``ptr[s]:ptr[s+1]``. Under a fixed capacity (``GeneInput.entry_capacity``) each
    stratum's range is padded at its end with entries whose ``live`` is 0 (element 0, the
    stratum's first neuron, row 0): a kind multiplies its values by ``live``, so they add 0
    and their parameters get no gradient; ``live`` is None when nothing is padded."""

    sample: torch.Tensor
    elem: torch.Tensor
    neuron: torch.Tensor
    ptr: list[int]
    live: torch.Tensor | None

    def masked(self, value: torch.Tensor) -> torch.Tensor:
        """``value`` [C] with the padding entries' set to 0."""
        return value if self.live is None else value * self.live.to(value.dtype)


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
        S = L.onto.num_strata
        # one more gene, NO_GENE's stand-in G, with no element and no incidence
        elem_ptr = np.concatenate([L.gene_elem_ptr, np.full(S, L.gene_elem_ptr[-1])])
        buf("gene_elem_ptr", elem_ptr)
        buf("gene_elems", L.gene_elems)
        buf("elem_neuron", L.elem_neuron)
        buf("elem_gene", L.elem_gene)
        buf("gene_inc_ptr", np.append(L.gene_inc_ptr, L.gene_inc_ptr[-1]))
        buf("gene_incs", L.gene_incs)
        buf("inc_gene", L.inc_gene)
        # host copies of what sizes depend on: elements per (gene, stratum), incidences per gene
        self.elem_counts = np.diff(elem_ptr).reshape(-1, S)  # [G + 1, S]
        self.inc_counts = np.diff(L.gene_inc_ptr)
        self.entry_capacity: np.ndarray | None = None  # per stratum (set_entry_capacity)
        first = [p.neurons[0] for p in L.strata]
        buf("stratum_first_neuron", np.array(first, np.int64))
        has = L.direct > 0
        buf("gterms", has.nonzero()[0])  # terms with direct genes
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
    def entry_capacity_for(self, enc: EncodedGenotypes, batch_size: int) -> np.ndarray:
        """The most gene entries per stratum [S] a batch of at most ``batch_size`` genotypes of
        ``enc`` can have: per stratum the sum of its ``batch_size`` largest per-genotype
        counts (one pass over ``enc`` on the host)."""
        per_pair = self.elem_counts[enc.genes]  # [K, S]
        per_genotype = np.zeros((len(enc), per_pair.shape[1]), np.int64)
        np.add.at(per_genotype, np.repeat(np.arange(len(enc)), np.diff(enc.ptr)), per_pair)
        k = min(batch_size, len(enc))
        top = -np.partition(-per_genotype, k - 1, axis=0)[:k] if k else per_genotype[:0]
        return top.sum(0).astype(np.int64)

    def set_entry_capacity(self, caps: np.ndarray | None) -> None:
        """Pad every forward's gene entries to ``caps`` [S] per stratum (``GeneEntries``), so
        that its shapes depend on (B, pairs) only; ``None``: each batch's own counts. The
        device copy sits beside the other index tensors and is written in place when it exists
        (a captured CUDA graph keeps reading the same memory)."""
        self.entry_capacity = None if caps is None else np.asarray(caps, np.int64)
        if caps is None:
            return
        t = torch.from_numpy(self.entry_capacity).to(self.gene_elem_ptr.device)
        old = getattr(self, "entry_capacity_t", None)
        if old is not None and old.shape == t.shape:
            old.copy_(t)
        else:
            self._buffer("entry_capacity_t", t)

    def _entry_counts(self, batch: PerturbationBatch) -> list[int]:
        """Gene entries per stratum: the fixed capacities, else counted on the host from the
        batch's host copy of its genes (``PerturbationBatch.host_genes``: no device sync)."""
        if self.entry_capacity is not None:
            return self.entry_capacity.tolist()
        genes = batch.host_genes()
        genes = np.where(genes == NO_GENE, len(self.elem_counts) - 1, genes)
        return self.elem_counts[genes].sum(0).tolist()

    def _pair_genes(self, batch: PerturbationBatch) -> torch.Tensor:
        """The batch's genes with a padding pair's ``NO_GENE`` read as the gene with nothing."""
        g = batch.gene
        return torch.where(g == NO_GENE, len(self.elem_counts) - 1, g)

    def _perturbed_elements(self, batch: PerturbationBatch) -> GeneEntries:
        """Every element of every perturbed gene, grouped by stratum (``GeneEntries``): per
        stratum s the pairs in batch order, each pair's elements in CSR order. Sizes come from
        the host (``_entry_counts``); under a capacity a filler key per stratum takes the rest
        of its range, its length the capacity minus the stratum's count, computed on device."""
        S = self.layout.onto.num_strata
        dev = batch.gene.device
        caps = self._entry_counts(batch)
        total = sum(caps)
        K = len(batch.gene)
        keys = self._pair_genes(batch).unsqueeze(0) * S + torch.arange(S, device=dev).unsqueeze(1)
        ptr_e = self.gene_elem_ptr
        lens = ptr_e[keys + 1] - ptr_e[keys]  # [S, K]
        sample = batch.sample.unsqueeze(0).expand(S, K)
        padded = self.entry_capacity is not None
        if padded:  # column K: the filler of each stratum
            lens = torch.cat([lens, (self.entry_capacity_t - lens.sum(1)).unsqueeze(1)], 1)
            keys = torch.cat([keys, keys.new_zeros(S, 1)], 1)
            sample = torch.cat([sample, sample.new_zeros(S, 1)], 1)
        lens, keys = lens.reshape(-1), keys.reshape(-1)
        which = torch.repeat_interleave(
            torch.arange(len(keys), device=dev), lens, output_size=total
        )
        first = torch.cumsum(lens, 0) - lens
        offs = torch.arange(total, device=dev) - first.index_select(0, which)
        pos = ptr_e.index_select(0, keys).index_select(0, which) + offs
        live = None
        if padded:
            live = which % (K + 1) != K
            pos = torch.where(live, pos, 0)
        elem = self.gene_elems.index_select(0, pos)
        neuron = self.elem_neuron.index_select(0, elem)
        if padded:
            stratum = which // (K + 1)
            neuron = torch.where(live, neuron, self.stratum_first_neuron.index_select(0, stratum))
        ptr = np.concatenate([[0], np.cumsum(caps)]).tolist()
        return GeneEntries(sample.reshape(-1).index_select(0, which), elem, neuron, ptr, live)

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
