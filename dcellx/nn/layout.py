"""``ModelLayout``: the compiled ontology turned into the index plan the fast engine executes.

Neurons are numbered globally, term by term in the ontology's order (by stratum, root last), so
each stratum owns a contiguous range. A term's Linear input I(t) is [children's states (in
``child_idx`` order) | gene block]; the gene block depends on the variant:

=====================  =======================================  ==============================
variant / gene layer   gene block of I(t)                       width of the block
=====================  =======================================  ==============================
binary                 x_g for g in direct(t) (1 = disrupted)   n_t
embedding              vec(s_g e_g), g in direct(t)             n_t * d
embedding-pooled       sum_g s_g e_g                            d   (0 if n_t = 0)
embedding-deepset      rho(sum_g s_g phi(e_g))                  d   (0 if n_t = 0)
embedding-attention    sum_i attn_i over present genes          d   (0 if n_t = 0)
masked-layer (Lua)     G_t x + c_t, G_t: Linear(direct -> w_t)  w_t (0 if n_t = 0)
dense-layer (Lua .t7)  G_t x + c_t, G_t: Linear(all G -> w_t)   w_t (0 if n_t = 0)
=====================  =======================================  ==============================

With ``root_extra_input = "constant-one"`` the root's I(t) ends with one more entry held at 1
(torchcell's GO:ROOT input), so fan_in(root) = children + gene block + 1.

Which deletions reach a term's gene block is the ``deletion_rule`` (``dcellx.nn.deletion``):
``inc_visible`` flags each direct incidence, and the per-gene perturbation lists below only hold
visible ones, so an invisible deletion leaves the term at its wild-type input.

Within a stratum, terms are grouped into *buckets* of similar (fan-in, width), by the plan of
least predicted step time (``dcellx.nn.buckets``); each bucket is one padded ``bmm``. Padding is
zero on both sides and never read back, so it stays zero under any optimiser that maps zero
gradients to zero updates (SGD, Adam, L2 in the loss).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from dcellx.nn.buckets import BucketCost, plan_buckets
from dcellx.nn.config import ModelConfig
from dcellx.nn.deletion import visible_incidences
from dcellx.ontology.compiled import CompiledOntology


@dataclass(frozen=True, eq=False)
class Bucket:
    """Terms of one stratum computed by one padded ``bmm`` (one packed weight tensor)."""

    terms: np.ndarray  # term indices
    fan_pad: int
    out_pad: int
    in_rows: np.ndarray  # [T_k * fan_pad] positions into the stratum's gathered input (pad -> zero)
    out_pos: np.ndarray  # [T_k * out_pad] global neuron of each padded output row, -1 for padding
    # its index into DCell's packed ``weights`` (and ``deep_weights``): buckets are numbered
    # stratum by stratum, in plan order
    weight: int


@dataclass(frozen=True, eq=False)
class StratumPlan:
    """One stratum: its terms and neurons, where its inputs come from, and its buckets."""

    index: int
    terms: np.ndarray  # contiguous term range
    neurons: tuple[int, int]  # global [n0, n1)
    term_range: tuple[int, int]  # global [t0, t1)
    sources: list[tuple[int, np.ndarray]]  # (source id: -1 extra, j stratum; local rows)
    buckets: list[Bucket]
    unpad: np.ndarray  # [N_s] position of each stratum neuron in the concatenated bucket outputs


class ModelLayout:
    """Widths, offsets, incidence element tables and per-stratum bucket plans."""

    def __init__(
        self, onto: CompiledOntology, cfg: ModelConfig, buckets: BucketCost | float | None = None
    ):
        """``buckets``: the cost model the bucket plan minimises (``dcellx.nn.buckets``; None:
        its fitted defaults), or a float r for the former fixed plan (terms whose fan-in and width
        fall in the same cell of ratio r share a bucket), kept for comparisons."""
        self.onto, self.cfg = onto, cfg
        T = onto.num_terms
        basis = onto.contained if cfg.width_basis == "contained" else onto.direct_counts()
        # the nudge towards the rounding's own direction keeps float products of exact results
        # where they belong: ceil(0.3 * 20 = 6.000000000000001) = 6, floor(0.3 * 10) = 3
        f, eps = (math.ceil, -1e-9) if cfg.width_rounding == "ceil" else (math.floor, 1e-9)
        self.width = np.array(
            [max(cfg.width_floor, f(cfg.width_multiplier * n + eps)) for n in basis], np.int64
        )
        self.offset = np.concatenate([[0], np.cumsum(self.width)]).astype(np.int64)
        self.num_neurons = int(self.offset[-1])
        self.term_of_neuron = np.repeat(np.arange(T), self.width)
        # direct genes per term (gene_term is sorted by term, then gene)
        self.gene_ptr = onto.direct_gene_ptr()
        self.direct = np.diff(self.gene_ptr)
        self.inc_gene = onto.gene_term[0].copy()
        self.inc_term = onto.gene_term[1].copy()
        self.inc_visible = visible_incidences(onto, cfg.deletion_rule)  # bool [A]
        d = cfg.embedding_dim
        has = (self.direct > 0).astype(np.int64)
        if cfg.gene_layer != "direct":  # the Lua gene layers: w_t outputs, as a child's state
            self.gene_in = self.width * has
        elif cfg.variant == "binary":
            self.gene_in = self.direct.copy()
        elif cfg.variant == "embedding":
            self.gene_in = self.direct * d
        else:
            self.gene_in = has * d
        self.child_in = np.array([self.width[onto.children(t)].sum() for t in range(T)], np.int64)
        # the root's constant-one input column (torchcell's GO:ROOT), last in its I(t)
        self.root_extra = int(cfg.root_extra_input == "constant-one")
        self.fan_in = self.child_in + self.gene_in
        self.fan_in[onto.root] += self.root_extra
        # Lua's gene layer outputs live in an "extra" row space fed to the term matmuls.
        self.extra_width = self.width * has if cfg.gene_layer != "direct" else np.zeros(T, int)
        self.extra_offset = np.concatenate([[0], np.cumsum(self.extra_width)]).astype(np.int64)
        self.num_extra = int(self.extra_offset[-1])
        self._incidence_elements()
        plan = BucketCost() if buckets is None else buckets
        self.strata: list[StratumPlan] = []
        for s in range(onto.num_strata):
            self.strata.append(self._plan(s, plan, sum(len(p.buckets) for p in self.strata)))

    # -- gene incidence elements: one per (direct annotation, unit of the term) --------------
    def _incidence_elements(self) -> None:
        """Element e = (incidence i, unit u): the weight W_t[u, col(g)] of a direct gene column.
        Sorted by gene so that a perturbed gene's elements are one contiguous CSR slice. The
        per-gene lists (elements, incidences) hold the *visible* incidences only: they are what
        a deletion touches; the wild-type parts use every element.

        The element arrays are the layout's big ones (9.5 M entries each for the paper widths on
        --go 2017), and fresh memory is slow to fault in: each is built in place from one
        ``repeat`` over the incidences, the (gene, stratum) counts are summed over incidences, the
        arrays only the Lua gene layer and the tests read (``elem_inc``, ``elem_unit``) are
        built when first asked for. ModelLayout of paper on --go 2017: 2.4-3.7 s -> 0.9-1.3 s."""
        order = np.lexsort((self.inc_term, self.inc_gene))  # by gene, then term
        order = order[self.inc_visible[order]]
        w = self.width[self.inc_term]
        # canonical element numbering is by incidence (term-major), unit-minor
        inc_elem_start = np.concatenate([[0], np.cumsum(w)]).astype(np.int64)
        self.num_elements = int(inc_elem_start[-1])
        self.inc_elem_start = inc_elem_start
        # neuron of element e = offset[term] + unit = e + (offset[term] - first element)
        self.elem_neuron = np.arange(self.num_elements, dtype=np.int64)
        self.elem_neuron += np.repeat(self.offset[self.inc_term] - inc_elem_start[:-1], w)
        self.elem_gene = np.repeat(self.inc_gene, w)
        # gene -> elements CSR (elements listed by gene): the element ranges of the incidences
        # in ``order``, concatenated (one vectorised ``arange``, not a loop over incidences)
        wo = w[order].astype(np.int64)
        starts = np.concatenate([[0], np.cumsum(wo)[:-1]]).astype(np.int64)
        self.gene_elems = np.arange(int(wo.sum()), dtype=np.int64)
        self.gene_elems += np.repeat(inc_elem_start[order] - starts, wo)
        # finer CSR over the same array, keyed by gene * S + stratum (elements are sorted by gene,
        # then term, and terms by stratum), so a batch's elements come out grouped by stratum;
        # a key's count is the summed width of its visible incidences
        S = self.onto.num_strata
        vis = self.inc_visible
        key = self.inc_gene[vis].astype(np.int64) * S + self.onto.strata[self.inc_term[vis]]
        counts = np.bincount(key, weights=w[vis], minlength=self.onto.num_genes * S)
        self.gene_elem_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        # gene -> incidences CSR (for per-term pooled variants)
        self.gene_incs = order.astype(np.int64)
        ic = np.bincount(self.inc_gene[self.inc_visible], minlength=self.onto.num_genes)
        self.gene_inc_ptr = np.concatenate([[0], np.cumsum(ic)]).astype(np.int64)

    @cached_property
    def elem_inc(self) -> np.ndarray:
        """The incidence of every element."""
        return np.repeat(np.arange(len(self.inc_term)), self.width[self.inc_term])

    @cached_property
    def elem_unit(self) -> np.ndarray:
        """The unit (row of its term) of every element."""
        return np.arange(self.num_elements) - self.inc_elem_start[self.elem_inc]

    # -- per-stratum bucket plan ---------------------------------------------------------
    def _plan(self, s: int, buckets: BucketCost | float, first_weight: int) -> StratumPlan:
        onto = self.onto
        terms = np.nonzero(onto.strata == s)[0]
        n0, n1 = int(self.offset[terms[0]]), int(self.offset[terms[-1] + 1])
        # dense input rows of each term: children's neurons (+ its Lua gene-layer outputs)
        rows_per_term: list[list[tuple[int, int]]] = []  # (source, local row)
        needed: dict[int, set[int]] = {}
        for t in terms:
            rows: list[tuple[int, int]] = []
            for c in onto.children(t):
                src = int(onto.strata[c])
                base = int(self.offset[c]) - int(self.stratum_first_neuron(src))
                rows.extend((src, base + u) for u in range(int(self.width[c])))
            if self.extra_width[t]:
                e0 = int(self.extra_offset[t])
                rows.extend((-1, e0 + u) for u in range(int(self.extra_width[t])))
            rows_per_term.append(rows)
            for src, r in rows:
                needed.setdefault(src, set()).add(r)
        sources = [(src, np.array(sorted(r), np.int64)) for src, r in sorted(needed.items())]
        pos: dict[tuple[int, int], int] = {}
        for src, rows in sources:
            for r in rows:
                pos[(src, r)] = len(pos)
        zero_row = len(pos)
        dense_in = np.array([len(r) for r in rows_per_term], np.int64)
        width = self.width[terms]
        if isinstance(buckets, BucketCost):
            groups = [g.tolist() for g in plan_buckets(dense_in, width, buckets)]
        else:  # the fixed plan: terms whose fan-in and width share a log-ratio cell
            key_f = np.floor(np.log(np.maximum(dense_in, 1)) / math.log(buckets)).astype(int)
            key_o = np.floor(np.log(width) / math.log(buckets)).astype(int)
            cells: dict[tuple[int, int], list[int]] = {}
            for i in range(len(terms)):
                cells.setdefault((key_f[i], key_o[i]), []).append(i)
            groups = [cells[k] for k in sorted(cells)]
        out: list[Bucket] = []
        out_cursor = 0
        unpad = np.full(n1 - n0, -1, np.int64)
        for idx in groups:
            fp = max(1, int(dense_in[idx].max()))
            op = int(width[idx].max())
            in_rows = np.full(len(idx) * fp, zero_row, np.int64)
            out_pos = np.full(len(idx) * op, -1, np.int64)
            for j, i in enumerate(idx):
                for k, sr in enumerate(rows_per_term[i]):
                    in_rows[j * fp + k] = pos[sr]
                t = terms[i]
                lo = int(self.offset[t])
                for u in range(int(self.width[t])):
                    out_pos[j * op + u] = lo + u
                    unpad[lo + u - n0] = out_cursor + j * op + u
            out_cursor += len(idx) * op
            out.append(Bucket(terms[idx], fp, op, in_rows, out_pos, first_weight + len(out)))
        assert (unpad >= 0).all()
        t_range = (int(terms[0]), int(terms[-1]) + 1)
        return StratumPlan(s, terms, (n0, n1), t_range, sources, out, unpad)

    def stratum_first_neuron(self, s: int) -> int:
        first = int(np.argmax(self.onto.strata == s))
        return int(self.offset[first])

    # -- sizes -------------------------------------------------------------------------------
    def term_params(self) -> int:
        """Parameters of the term Linear layers (true sizes, no padding)."""
        return int((self.fan_in * self.width + self.width).sum())

    def num_parameters(self) -> int:
        """Trainable parameters of the model built on this layout at their true sizes (bucket
        padding and unused slots excluded): the term-named state (``dcellx.nn.term_state``)
        without the running statistics. Counted from widths and fan-ins, nothing allocated."""
        cfg, onto, w = self.cfg, self.onto, self.width
        d, h, root = cfg.embedding_dim, cfg.deepset_hidden, onto.root
        n = self.term_params()  # terms.<t>.weight [w_t, fan_in_t] and terms.<t>.bias [w_t]
        has = self.direct > 0
        if cfg.gene_layer == "masked-layer":  # genes.<t>: Linear(direct(t) -> w_t)
            n += int(((self.direct + 1) * w)[has].sum())
        elif cfg.gene_layer == "dense-layer":  # genes.<t>: Linear(every gene -> w_t)
            n += int(((onto.num_genes + 1) * w)[has].sum())
        n += (cfg.depth - 1) * int((w * w + w).sum())  # deep.<t>.<k>
        if cfg.norm != "none":
            n += cfg.depth * 2 * int(w.sum())  # norms / deep_norms: weight and bias
        n += int((w + 1).sum()) - int(w[root] + 1)  # aux.<t> of every term but the root
        n += int(w[root]) + 1  # the root's head
        if cfg.variant != "binary":
            n += onto.num_genes * d  # gene_embedding
        if cfg.variant == "embedding-deepset":  # phi = Linear(d, h), Linear(h, h); rho mirrored
            n += 2 * (d * h + h + h * h + h) - h + d
        if cfg.variant == "embedding-attention":
            n += 3 * (d * d + d)  # q, k, v
        return n

    def padded_dense_params(self) -> int:
        return int(
            sum(len(b.terms) * b.fan_pad * b.out_pad for p in self.strata for b in p.buckets)
        )

    def useful_macs_per_sample(self) -> int:
        """Multiply-adds of the term Linear layers, in*out per term (what the paper's model does
        per sample); the benchmark counts FLOPs as 2x this, and forward+backward as 3x forward."""
        macs = int((self.fan_in * self.width).sum())
        macs += int((self.cfg.depth - 1) * (self.width**2).sum())
        return macs
