"""Read a saved Torch7 ``nn.gModule`` (the original DCell's model files) and its gene map.

``read_t7_graph`` parses the file with ``torchfile`` (the optional extra ``dcellx[lua]``) and
returns the forward nodes in their stored order, each with its module's fields (numpy arrays),
its inputs in nngraph's ``mapindex`` order (the order a module receives them) and its consumers.
``read_gene_map`` reads the Lua ``gene2id_mapping`` file: the model's input column of every gene
and, in its header, which graph output is the root's prediction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dcellx.errors import ConfigError, InputError
from dcellx.fileio import read_text

MODULE_TYPES = ("nn.Linear", "nn.Tanh", "nn.BatchNormalization", "nn.JoinTable", "nn.Identity")


@dataclass
class Node:
    """One forward node of the saved graph (``forwardnodes`` order)."""

    index: int
    node_id: int
    kind: str | None  # module type, None for nngraph's own input/output nodes
    name: str | None  # ``annotate{name = ...}``
    fields: dict[str, Any]  # the module's fields, bytes keys decoded
    module_pos: int | None  # 1-based position in gModule.modules
    inputs: list[int] = field(default_factory=list)  # node indices in mapindex order
    consumers: list[int] = field(default_factory=list)

    def label(self) -> str:
        where = f"modules[{self.module_pos}] " if self.module_pos else ""
        name = f" {self.name!r}" if self.name else ""
        return f"nngraph node {self.node_id} ({where}{self.kind or 'graph node'}{name})"

    def array(self, key: str) -> np.ndarray | None:
        v = self.fields.get(key)
        return v if isinstance(v, np.ndarray) and v.size else None


@dataclass
class GeneMap:
    """``<root> <root output>`` then ``ORF index`` lines (1-based): the model's input order."""

    root: str
    root_output: int  # 0-based position of the root's prediction among the graph outputs
    genes: list[str]  # ORF of each input column


def read_gene_map(path: str | Path) -> GeneMap:
    """Parse a Lua ``gene2id_mapping`` file; ids must be 1..n, each once."""
    lines = [(i + 1, ln.split()) for i, ln in enumerate(read_text(path).splitlines())]
    lines = [(n, p) for n, p in lines if p]
    if not lines or len(lines[0][1]) != 2 or not lines[0][1][1].isdigit():
        raise InputError(path, 1, "expected a header '<root term> <root output index>'")
    genes: dict[int, str] = {}
    for n, parts in lines[1:]:
        if len(parts) != 2 or not parts[1].isdigit():
            raise InputError(path, n, f"expected 'ORF index', got {' '.join(parts)!r}")
        idx = int(parts[1])
        if idx in genes or parts[0] in genes.values():
            raise InputError(path, n, f"{parts[0]} {idx}: gene or index listed twice")
        genes[idx] = parts[0]
    if sorted(genes) != list(range(1, len(genes) + 1)):
        raise InputError(path, None, f"gene indices are not 1..{len(genes)}")
    return GeneMap(lines[0][1][0], int(lines[0][1][1]) - 1, [genes[i] for i in sorted(genes)])


def _text(v: Any) -> str | None:
    return v.decode() if isinstance(v, bytes) else v


def read_t7_graph(path: str | Path) -> tuple[list[Node], dict[str, Any]]:
    """The forward nodes of a saved ``nn.gModule`` (via ``torchfile``) and file facts."""
    try:
        import torchfile
    except ImportError:
        raise ConfigError(
            "reading Torch7 files needs the optional package torchfile: "
            "pip install 'dcellx[lua]' (or torchfile)"
        ) from None
    try:
        obj = torchfile.load(str(path))
    except Exception as exc:  # torchfile raises many types on a foreign file
        raise InputError(path, None, f"not a Torch7 file torchfile can read ({exc})") from None
    kind = obj.torch_typename() if isinstance(obj, torchfile.TorchObject) else None
    if kind != b"nn.gModule" or not isinstance(obj._obj.get(b"forwardnodes"), list):
        raise InputError(path, None, f"not an nngraph nn.gModule (top object: {kind!r})")
    top = obj._obj
    pos = {id(m): k + 1 for k, m in enumerate(top.get(b"modules") or [])}
    raw = top[b"forwardnodes"]
    by_data = {id(n._obj[b"data"]): i for i, n in enumerate(raw)}
    nodes: list[Node] = []
    for i, n in enumerate(raw):
        data = n._obj[b"data"]
        mod = data.get(b"module")
        fields = {_text(k): v for k, v in mod._obj.items()} if mod is not None else {}
        nodes.append(
            Node(
                i,
                int(n._obj[b"id"]),
                _text(mod.torch_typename()) if mod is not None else None,
                _text((data.get(b"annotations") or {}).get(b"name")),
                fields,
                pos.get(id(mod)) if mod is not None else None,
            )
        )
        mapindex, k = data.get(b"mapindex") or {}, 1
        while k in mapindex:  # Lua array part: the inputs in order
            nodes[-1].inputs.append(by_data[id(mapindex[k])])
            k += 1
    for node in nodes:
        for j in node.inputs:
            nodes[j].consumers.append(node.index)
    facts = {"top": "nn.gModule", "forward_nodes": len(nodes), "train_flag": top.get(b"train")}
    return nodes, facts
