"""A deliberately plain interpreter of a saved Torch7 nngraph model: the yardstick for the import.

It shares no code with dcellx (only ``torchfile`` to parse the file, numpy to compute): the forward
nodes run in their stored order, each module is one of the five types the DCell Lua graph uses,
BatchNormalization in eval mode (running statistics), float64 throughout. Inputs reach a node in
nngraph's ``mapindex`` order, as ``gModule:updateOutput`` passes them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torchfile


def _inputs(node, by_data: dict[int, int]) -> list[int]:
    mapindex, k, out = node._obj[b"data"][b"mapindex"], 1, []
    while k in mapindex:
        out.append(by_data[id(mapindex[k])])
        k += 1
    return out


class NNGraph:
    """The forward nodes of ``path``, ready to evaluate."""

    def __init__(self, path: str | Path) -> None:
        top = torchfile.load(str(path))._obj
        self.nodes = top[b"forwardnodes"]
        by_data = {id(n._obj[b"data"]): i for i, n in enumerate(self.nodes)}
        self.inputs = [_inputs(n, by_data) for n in self.nodes]

    def module(self, i: int):
        return self.nodes[i]._obj[b"data"].get(b"module")

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        """``x`` [B, G] (1 = disrupted, the model's own gene columns) -> the graph's outputs."""
        values: list = [None] * len(self.nodes)
        for i in range(len(self.nodes)):
            args = [values[j] for j in self.inputs[i]]
            mod = self.module(i)
            if mod is None:  # nngraph's own input and output nodes pass their input on
                values[i] = x if not args else args
                continue
            kind, f = mod.torch_typename(), mod._obj
            a = args[0] if len(args) == 1 else args
            if kind == b"nn.Identity":
                values[i] = a
            elif kind == b"nn.Linear":
                values[i] = a @ f[b"weight"].astype(np.float64).T + f[b"bias"].astype(np.float64)
            elif kind == b"nn.Tanh":
                values[i] = np.tanh(a)
            elif kind == b"nn.JoinTable":
                values[i] = np.concatenate(a, axis=1)
            elif kind == b"nn.BatchNormalization":
                mean = f[b"running_mean"].astype(np.float64)
                var = f[b"running_var"].astype(np.float64)
                z = (a - mean) / np.sqrt(var + float(f[b"eps"]))
                values[i] = z * f[b"weight"].astype(np.float64) + f[b"bias"].astype(np.float64)
            else:
                raise ValueError(f"module type {kind!r} is not one of the five")
        return [o[:, 0] for o in values[-1]]

    def output_terms(self) -> list[str | None]:
        """The GO term of each output, read off the graph: from the head back through the
        term's block to its join, whose last input is the ``gene_<term>`` layer (None for a term
        without direct genes, which has no gene layer)."""
        out = []
        for head in self.inputs[-1]:
            i = head
            while True:
                mod = self.module(i)
                name = self.nodes[i]._obj[b"data"][b"annotations"].get(b"name")
                if name is not None:
                    out.append(name.decode()[len("gene_") :])
                    break
                if mod is None:  # reached the graph input: no gene layer on the way
                    out.append(None)
                    break
                ins = self.inputs[i]
                if mod.torch_typename() == b"nn.JoinTable":
                    last = self.nodes[ins[-1]]._obj[b"data"][b"annotations"].get(b"name")
                    out.append(None if last is None else last.decode()[len("gene_") :])
                    break
                i = ins[0]
        return out


def read_gene_columns(path: str | Path) -> tuple[str, int, dict[str, int]]:
    """(root term, 0-based root output, ORF -> 0-based input column) of a gene2id_mapping."""
    lines = [ln.split() for ln in Path(path).read_text().splitlines() if ln.strip()]
    return lines[0][0], int(lines[0][1]) - 1, {g: int(i) - 1 for g, i in lines[1:]}


def read_genotypes(path: str | Path, columns: dict[str, int]) -> tuple[list[tuple], np.ndarray]:
    """A DCell genotype file (``k g1 .. gk value``) as (gene tuples, x [N, G] 1 = disrupted)."""
    rows = [ln.split() for ln in Path(path).read_text().splitlines() if ln.strip()]
    x = np.zeros((len(rows), len(columns)))
    genes = []
    for i, r in enumerate(rows):
        k = int(r[0])
        genes.append(tuple(r[1 : 1 + k]))
        for g in r[1 : 1 + k]:
            x[i, columns[g]] = 1.0
    return genes, x
