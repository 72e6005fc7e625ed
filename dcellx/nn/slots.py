"""``SlotPlan``: the fused engine's memory layout, one row ("slot") per padded bucket output.

The autograd engine keeps each stratum's states in neuron order and moves them between layouts
every stratum: a fan-out gather per source, a concatenation, a gather into bucket order, and a
gather from the padded bucket outputs back to neuron order, each with its backward. The fused
engine (``dcellx.nn.fused``) instead keeps every state where its ``bmm`` writes it: all strata's
padded bucket outputs, one after the other, in one buffer ``H`` of

.. math::
    R = \\underbrace{\\textstyle\\sum_{s,k} T_k \\cdot \\mathrm{out\\_pad}_k}_{\\text{slots}}
    + N_\\text{extra} + 1

rows (slots, then the Lua gene-layer rows, then one row held at zero), so a stratum's whole input
is one gather ``H[in_rows]`` and its output needs no move at all. A padding slot holds an exact
zero (its weight row, bias, gain and head weight are zero) and no gather reads it.

Index tensors (int64): ``slot_of_neuron`` [N] and ``neuron_of_slot`` [slots] (N for padding, so
that a per-neuron vector extended by one zero maps onto the slots with one gather);
per stratum the slot range, its buckets, ``in_rows`` into H and the bucket-order term list of its
auxiliary heads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dcellx.nn.layout import ModelLayout


@dataclass
class SlotBucket:
    weight: int  # index into DCell.weights
    terms: int  # T_k
    out_pad: int
    fan_pad: int
    slot: int  # first slot, stratum-local
    inp: int  # first row of the bucket's input, stratum-local


@dataclass
class SlotStratum:
    slots: tuple[int, int]  # global slot range [a, b)
    neurons: tuple[int, int]  # global neuron range [n0, n1)
    buckets: list[SlotBucket]
    in_rows: np.ndarray  # [sum_k T_k fan_pad] rows of H, bucket after bucket
    reads_states: bool  # False when every input row is the zero row (a stratum of leaves)
    aux: tuple[int, int]  # range of its heads in the bucket-order aux rows ([0, 0) for the root)


class SlotPlan:
    """Slots, input gathers and auxiliary-head order of ``layout`` (see the module docstring)."""

    def __init__(self, layout: ModelLayout):
        L = layout
        N = L.num_neurons
        self.num_neurons = N
        self.num_slots = sum(len(b.terms) * b.out_pad for p in L.strata for b in p.buckets)
        self.num_extra = L.num_extra
        self.zero_row = self.num_slots + self.num_extra
        self.num_rows = self.zero_row + 1
        self.neuron_of_slot = np.full(self.num_slots, N, np.int64)
        self.slot_of_neuron = np.full(N, -1, np.int64)
        self.strata: list[SlotStratum] = []
        aux_terms: list[np.ndarray] = []
        root = L.onto.root
        a = 0
        n_aux = 0
        for plan in L.strata:
            slot, inp, buckets = 0, 0, []
            for b in plan.buckets:
                Tk = len(b.terms)
                real = b.out_pos >= 0
                rows = a + slot + np.nonzero(real)[0]
                self.neuron_of_slot[rows] = b.out_pos[real]
                self.slot_of_neuron[b.out_pos[real]] = rows
                buckets.append(SlotBucket(b.weight, Tk, b.out_pad, b.fan_pad, slot, inp))
                slot += Tk * b.out_pad
                inp += Tk * b.fan_pad
            # rows of H behind the stratum's gathered input: its sources (lower strata, whose
            # slots are numbered by now, or the Lua rows), then the zero row
            parts = []
            for src, local in plan.sources:
                if src == -1:
                    parts.append(self.num_slots + local)
                else:
                    parts.append(self.slot_of_neuron[L.stratum_first_neuron(src) + local])
            parts.append(np.array([self.zero_row], np.int64))
            where = np.concatenate(parts)
            in_rows = where[np.concatenate([b.in_rows for b in plan.buckets])]
            is_root = plan.terms.tolist() == [root]
            heads = (0, 0)
            if not is_root:
                terms = np.concatenate([b.terms for b in plan.buckets])
                aux_terms.append(terms)
                heads = (n_aux, n_aux + len(terms))
                n_aux += len(terms)
            reads = bool((in_rows != self.zero_row).any())
            self.strata.append(
                SlotStratum((a, a + slot), plan.neurons, buckets, in_rows, reads, heads)
            )
            a += slot
        assert (self.slot_of_neuron >= 0).all()
        # aux rows are computed bucket by bucket; the model's aux output has column t for term t
        # (the root, last, has none): output row t = bucket-order row aux_row_of_term[t]
        self.aux_terms = np.concatenate(aux_terms) if aux_terms else np.zeros(0, np.int64)
        self.aux_row_of_term = np.argsort(self.aux_terms, kind="stable")
        self.num_aux = n_aux
        self.max_inputs = max(len(st.in_rows) for st in self.strata)
        self.max_slots = max(st.slots[1] - st.slots[0] for st in self.strata)
        self.num_inputs = sum(len(st.in_rows) for st in self.strata)
        top = self.strata[-1]
        self.root_slots = top.slots
