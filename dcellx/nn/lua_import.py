"""Read the original DCell's own trained Torch7 model (an ``nn.gModule``) into term-named state.

The Lua code builds one nngraph per ontology: an ``nn.Identity`` over the gene vector, per term
with direct genes a gene layer ``nn.Linear(G -> w_t)`` annotated ``gene_<term>``, per term a
``nn.JoinTable(2)`` of its children's states and its gene layer, the term ``nn.Linear``, a
``nn.BatchNormalization`` and a ``nn.Tanh`` (in either order), an auxiliary head
``nn.Tanh(nn.Linear(w_t -> 1))`` on every non-root term, and ``nn.Linear(w_root -> 1)`` on the
root. ``import_lua_model`` walks the saved graph in its stored forward order and places every
module: a GO term of the topology and a role. Whatever it cannot place is an ``InputError`` that
names the module (nngraph node id, ``modules[k]``, type, annotation), never a guess.

What the file says besides the state (module counts, the structure found, how far it differs
from ``--preset lua``, how the gene layers weigh genes outside their terms) is the import record,
``dcellx.nn.lua_record``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import dcellx.nn.term_keys as keys
from dcellx.errors import InputError
from dcellx.nn.config import make_config
from dcellx.nn.layout import ModelLayout
from dcellx.nn.lua_graph import MODULE_TYPES, GeneMap, Node, read_gene_map, read_t7_graph
from dcellx.nn.lua_record import PlacedGraph, import_record
from dcellx.ontology.compiled import CompiledOntology


@dataclass
class LuaModel:
    overrides: dict[str, Any]  # ModelConfig fields on top of the lua-released preset
    state: dict[str, torch.Tensor]  # term-named, the file's float32 values
    record: dict[str, Any]


class _Walk:
    """Places every node of the graph: (term index, role)."""

    def __init__(self, nodes: list[Node], gmap: GeneMap, onto: CompiledOntology, path: str):
        self.nodes, self.gmap, self.onto, self.path = nodes, gmap, onto, path
        self.layout = ModelLayout(onto, make_config("lua-released"))
        self.role: dict[int, tuple[int, str]] = {}
        self.gene_layer: dict[int, int] = {}  # term -> node
        self.term: dict[int, dict[str, Any]] = {}  # term -> its nodes and layout facts
        self.state_of: dict[int, int] = {}  # state node -> term
        self.pre_of: dict[int, int] = {}  # first block node (pre-activation) -> term

    def fail(self, node: Node, problem: str) -> InputError:
        return InputError(self.path, None, f"{node.label()}: {problem}")

    def width(self, t: int) -> int:
        return int(self.layout.width[t])

    def claim(self, node: Node, t: int, role: str) -> None:
        if node.index in self.role:
            raise self.fail(node, f"placed twice ({self.role[node.index][1]} and {role})")
        self.role[node.index] = (t, role)

    def linear_shape(self, node: Node, out: int, fan: int, what: str) -> None:
        w = node.array("weight")
        if node.kind != "nn.Linear" or w is None or node.array("bias") is None:
            raise self.fail(node, f"expected the {what}, an nn.Linear with weight and bias")
        if tuple(w.shape) != (out, fan):
            raise self.fail(node, f"{what}: weight {tuple(w.shape)}, expected ({out}, {fan})")

    def run(self) -> None:
        nodes = self.nodes
        for n in nodes:
            if n.kind is not None and n.kind not in MODULE_TYPES:
                raise self.fail(
                    n, f"module type not in a DCell Lua graph ({', '.join(MODULE_TYPES)})"
                )
        ins = [n for n in nodes if n.kind is None and not n.inputs]
        outs = [n for n in nodes if n.kind is None and n.inputs]
        if len(ins) != 1 or len(outs) != 1:
            raise InputError(self.path, None, "expected one graph input and one output node")
        self.output = outs[0]
        source = {ins[0].index}
        for n in nodes:  # nn.Identity chains on the input carry the gene vector
            if n.kind == "nn.Identity" and len(n.inputs) == 1 and n.inputs[0] in source:
                source.add(n.index)
                self.claim(n, -1, "gene input")
        self.claim(ins[0], -1, "graph input")
        self.claim(self.output, -1, "graph output")
        for n in nodes:
            if n.kind == "nn.Linear" and len(n.inputs) == 1 and n.inputs[0] in source:
                self._gene_layer(n)
        for n in nodes:
            if n.index in self.role:
                continue
            if n.kind == "nn.JoinTable" or (n.kind == "nn.Linear" and self._reads_gene_layer(n)):
                self._term_block(n)
            elif (
                n.kind == "nn.Linear"
                and n.inputs
                and n.inputs[0] in {**self.state_of, **self.pre_of}
            ):
                self._head(n)
            else:
                raise self.fail(
                    n, "cannot place it in the topology (not a gene layer, term, or head)"
                )
        missing = [self.onto.term_ids[t] for t in range(self.onto.num_terms) if t not in self.term]
        if missing:
            raise InputError(self.path, None, f"no term block for {', '.join(missing)}")
        for t, info in self.term.items():
            if "head" not in info:
                raise InputError(self.path, None, f"{self.onto.term_ids[t]}: no output head")

    def _reads_gene_layer(self, n: Node) -> bool:
        return len(n.inputs) == 1 and any(v == n.inputs[0] for v in self.gene_layer.values())

    def _gene_layer(self, n: Node) -> None:
        onto, name = self.onto, n.name or ""
        if not name.startswith("gene_"):
            raise self.fail(n, "a Linear on the gene vector must be annotated gene_<term>")
        tid = name[len("gene_") :]
        t = onto.term_index.get(tid)
        if t is None:
            raise self.fail(n, f"names term {tid}, which the topology lacks")
        if not self.layout.direct[t]:
            raise self.fail(n, f"{tid} has no direct genes in the topology, so no gene layer")
        if t in self.gene_layer:
            raise self.fail(n, f"a second gene layer for {tid}")
        self.linear_shape(n, self.width(t), len(self.gmap.genes), f"gene layer of {tid}")
        self.gene_layer[t] = n.index
        self.claim(n, t, "gene layer")

    def _term_block(self, n: Node) -> None:
        onto, nodes = self.onto, self.nodes
        gene_term = {v: k for k, v in self.gene_layer.items()}
        if n.kind == "nn.JoinTable":
            if n.fields.get("dimension") != 2 or len(n.consumers) != 1:
                raise self.fail(n, "expected JoinTable(2) feeding one term Linear")
            parts = n.inputs
            genes = [j for j in parts if j in gene_term]
            kids = [self.state_of.get(j) for j in parts if j not in gene_term]
            if None in kids:
                bad = nodes[[j for j in parts if j not in gene_term][kids.index(None)]]
                raise self.fail(n, f"joins {bad.label()}, which is no term's state")
            if len(genes) > 1 or (genes and parts[-1] != genes[0]):
                raise self.fail(n, "the gene layer must be the single, last input of a join")
            if genes:
                t = gene_term[genes[0]]
            else:
                cands = [
                    s
                    for s in range(onto.num_terms)
                    if not self.layout.direct[s] and set(onto.children(s).tolist()) == set(kids)
                ]
                if len(cands) != 1:
                    names = ", ".join(onto.term_ids[k] for k in kids)
                    raise self.fail(n, f"no single gene-less topology term has children {names}")
                t = cands[0]
            if sorted(kids) != sorted(onto.children(t).tolist()):
                want = ", ".join(onto.term_ids[c] for c in onto.children(t))
                raise self.fail(n, f"{onto.term_ids[t]} joins other terms than its children {want}")
            self.claim(n, t, "join")
            linear = nodes[n.consumers[0]]
        else:
            t, kids, linear = gene_term[n.inputs[0]], [], n
            if len(onto.children(t)):
                raise self.fail(n, f"{onto.term_ids[t]} has children, but reads only its genes")
        if t in self.term:
            raise self.fail(linear, f"a second term block for {onto.term_ids[t]}")
        w = self.width(t)
        fan = sum(self.width(c) for c in kids) + (w if t in self.gene_layer else 0)
        self.linear_shape(linear, w, fan, f"term Linear of {onto.term_ids[t]}")
        self.claim(linear, t, "term linear")
        if len(linear.consumers) != 1:
            raise self.fail(linear, "a term Linear must feed one BatchNormalization or Tanh")
        first = nodes[linear.consumers[0]]
        other = {"nn.BatchNormalization": "nn.Tanh", "nn.Tanh": "nn.BatchNormalization"}
        if first.kind not in other:
            raise self.fail(first, "expected BatchNormalization or Tanh after a term Linear")
        second = [nodes[j] for j in first.consumers if nodes[j].kind == other[first.kind]]
        if len(second) != 1:
            raise self.fail(first, f"expected one {other[first.kind]} after it")
        bn = first if first.kind == "nn.BatchNormalization" else second[0]
        self._check_bn(bn, w)
        self.claim(first, t, "block 1")
        self.claim(second[0], t, "block 2 (state)")
        self.pre_of[first.index] = t
        self.state_of[second[0].index] = t
        order = "linear-norm-tanh" if bn is first else "linear-tanh-norm"
        self.term[t] = {
            "children": kids,
            "linear": linear.index,
            "bn": bn.index,
            "block": order,
            "state": second[0].index,
        }

    def _check_bn(self, bn: Node, w: int) -> None:
        if bn.array("running_mean") is None or bn.array("running_var") is None:
            raise self.fail(bn, "BatchNormalization without running_mean/running_var")
        for key in ("running_mean", "running_var", "weight", "bias"):
            a = bn.array(key)
            if a is not None and a.shape != (w,):
                raise self.fail(bn, f"{key} has shape {a.shape}, expected ({w},)")

    def _head(self, n: Node) -> None:
        onto, src = self.onto, n.inputs[0]
        t = self.state_of.get(src, self.pre_of.get(src))
        tid = onto.term_ids[t]
        info = self.term[t]
        if "head" in info:
            raise self.fail(n, f"a second head on {tid}")
        self.linear_shape(n, 1, self.width(t), f"head of {tid}")
        tanh = None
        if len(n.consumers) == 1 and self.nodes[n.consumers[0]].kind == "nn.Tanh":
            tanh = self.nodes[n.consumers[0]]
            out_src = tanh
        else:
            out_src = n
        if out_src.consumers != [self.output.index]:
            raise self.fail(out_src, f"the head of {tid} must be a graph output")
        position = self.output.inputs.index(out_src.index)
        is_root = t == onto.root
        if is_root and (position != self.gmap.root_output or tanh is not None):
            raise self.fail(n, f"root head: output {position + 1}, expected a plain Linear at "
                            f"output {self.gmap.root_output + 1} (gene map header)")  # fmt: skip
        if not is_root and position == self.gmap.root_output:
            raise self.fail(n, f"output {position + 1} is the root's, but this head is on {tid}")
        self.claim(n, t, "head" if is_root else "aux linear")
        if tanh is not None:
            self.claim(tanh, t, "aux tanh")
        info.update(head=n.index, head_tanh=tanh is not None, head_reads_state=src in self.state_of)


def _uniform(walk: _Walk, key: str, what: str, root: bool = True) -> Any:
    """A per-term structural choice must be the same in every term (``root``: the root too)."""
    values = {t: info[key] for t, info in walk.term.items() if root or t != walk.onto.root}
    first = next(iter(values.values()))
    for t, v in values.items():
        if v != first:
            raise walk.fail(walk.nodes[walk.term[t]["linear"]], f"{what} differs between terms")
    return first


def import_lua_model(path: str | Path, gene_map: str | Path, onto: CompiledOntology) -> LuaModel:
    """Place every module of the saved graph and return the term-named state in dcellx's layout
    (children in dcellx's order, gene columns in the ontology's gene order) with its record."""
    gmap = read_gene_map(gene_map)
    if gmap.root != onto.term_ids[onto.root]:
        raise InputError(
            gene_map, 1, f"root {gmap.root}, the topology's is {onto.term_ids[onto.root]}"
        )
    if set(gmap.genes) != set(onto.gene_ids):
        extra = sorted(set(gmap.genes) - set(onto.gene_ids))[:3]
        lack = sorted(set(onto.gene_ids) - set(gmap.genes))[:3]
        raise InputError(gene_map, None, f"genes differ from the topology's (only in the map: "
                         f"{extra}, only in the topology: {lack})")  # fmt: skip
    nodes, facts = read_t7_graph(path)
    walk = _Walk(nodes, gmap, onto, str(path))
    walk.run()
    block = _uniform(walk, "block", "the Tanh/BatchNorm order")
    if not walk.term[onto.root]["head_reads_state"]:
        raise walk.fail(nodes[walk.term[onto.root]["head"]], "the root head must read its state")
    reads_state = _uniform(walk, "head_reads_state", "the auxiliary head's input", root=False)
    head_tanh = _uniform(walk, "head_tanh", "the auxiliary head's Tanh", root=False)
    eps = {float(nodes[i["bn"]].fields.get("eps", 1e-5)) for i in walk.term.values()}
    mom = {float(nodes[i["bn"]].fields.get("momentum", 0.1)) for i in walk.term.values()}
    if len(eps) > 1 or len(mom) > 1:
        raise InputError(path, None, "BatchNormalization eps/momentum differ between terms")
    overrides = {
        "block": block,
        "aux_input": "state" if reads_state else "pre-norm",
        "aux_head": "tanh-linear" if head_tanh else "linear",
        "bn_eps": eps.pop(),
        "bn_momentum": mom.pop(),
    }
    placed = PlacedGraph(nodes, onto, walk.layout, gmap.genes, walk.gene_layer)
    return LuaModel(overrides, _state(walk), import_record(placed, facts, overrides))


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a, dtype=np.float32))


def _state(walk: _Walk) -> dict[str, torch.Tensor]:
    onto, nodes, L = walk.onto, walk.nodes, walk.layout
    cols = np.array([onto.gene_index[g] for g in walk.gmap.genes])  # file column -> dcellx gene
    state: dict[str, torch.Tensor] = {keys.NORM_STEPS: torch.zeros((), dtype=torch.long)}
    for t, info in walk.term.items():
        tid, w = onto.term_ids[t], walk.width(t)
        lin = nodes[info["linear"]]
        W = lin.array("weight")
        blocks, at = {}, 0
        for c in info["children"]:  # the file's column order: its join order
            blocks[c] = W[:, at : at + walk.width(c)]
            at += walk.width(c)
        parts = [blocks[int(c)] for c in onto.children(t)]  # dcellx's child order
        if t in walk.gene_layer:
            parts.append(W[:, at:])
            g = nodes[walk.gene_layer[t]]
            G = np.zeros((w, onto.num_genes), dtype=np.float32)
            G[:, cols] = g.array("weight")
            state[f"genes.{tid}.weight"], state[f"genes.{tid}.bias"] = _t(G), _t(g.array("bias"))
        state[f"{keys.term(tid)}.weight"] = _t(np.concatenate(parts, 1))
        state[f"{keys.term(tid)}.bias"] = _t(lin.array("bias"))
        bn = nodes[info["bn"]]
        weight, bias = bn.array("weight"), bn.array("bias")  # absent when affine = false
        state[f"{keys.norm(tid)}.weight"] = _t(weight if weight is not None else np.ones(w))
        state[f"{keys.norm(tid)}.bias"] = _t(bias if bias is not None else np.zeros(w))
        state[f"{keys.norm(tid)}.running_mean"] = _t(bn.array("running_mean"))
        state[f"{keys.norm(tid)}.running_var"] = _t(bn.array("running_var"))
        head = nodes[info["head"]]
        key = keys.HEAD if t == onto.root else keys.aux(tid)
        state[f"{key}.weight"], state[f"{key}.bias"] = (
            _t(head.array("weight")),
            _t(head.array("bias")),
        )
    assert L.num_neurons == sum(walk.width(t) for t in range(onto.num_terms))
    return dict(sorted(state.items()))
