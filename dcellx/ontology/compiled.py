"""``CompiledOntology``: the filtered ontology as flat integer arrays, ready for the model.

Layout (T terms, G genes, A direct annotations):

* terms are sorted by stratum (longest path down to a leaf; leaves are 0, the root is last), so
  one forward pass can walk strata in increasing order;
* ``child_ptr``/``child_idx``: CSR of children per term;
* ``gene_term``: [2, A] direct incidence (gene index, term index), sorted by term then gene -- the
  bipartite ``(gene, annotated_to, term)`` edge set;
* ``contained``: genes annotated to a term or any descendant (the paper's width uses this).

It is saved as one ``.npz`` of plain arrays (no pickle) and identified by a content hash over the
structure only (ids, edges, incidence), so two builds with equal structure share a hash.
"""

from __future__ import annotations

import hashlib
import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np

from dcellx.errors import DcellxError, InputError

if TYPE_CHECKING:  # torch is imported where a tensor is made: reading data needs none
    import torch
from dcellx.fileio import atomic_write
from dcellx.ontology.graph import OntologyGraph

# Part of the content hash: bumped only when the structure a hash covers changes meaning.
FORMAT_VERSION = 1
# How a build is stored on disk (2: compressed, int32, names as UTF-8 text); not part of the hash.
STORAGE_VERSION = 2


@dataclass
class CompiledOntology:
    """Arrays describing a DCell ontology; see the module docstring for the layout."""

    name: str
    term_ids: list[str]
    term_names: list[str]
    gene_ids: list[str]
    strata: np.ndarray  # int64 [T]
    child_ptr: np.ndarray  # int64 [T+1]
    child_idx: np.ndarray  # int64 [E]
    gene_term: np.ndarray  # int64 [2, A]
    contained: np.ndarray  # int64 [T]
    meta: dict = field(default_factory=dict)
    content_hash: str = ""

    def __post_init__(self) -> None:
        if not self.content_hash:
            self.content_hash = self._hash()
        self._term_index = {t: i for i, t in enumerate(self.term_ids)}
        self._gene_index = {g: i for i, g in enumerate(self.gene_ids)}

    # -- sizes -------------------------------------------------------------------------------
    @property
    def num_terms(self) -> int:
        return len(self.term_ids)

    @property
    def num_genes(self) -> int:
        return len(self.gene_ids)

    @property
    def num_strata(self) -> int:
        return int(self.strata.max()) + 1 if len(self.strata) else 0

    @property
    def root(self) -> int:
        """The root is the single term of the top stratum, stored last."""
        return self.num_terms - 1

    @property
    def term_index(self) -> dict[str, int]:
        return self._term_index

    @property
    def gene_index(self) -> dict[str, int]:
        return self._gene_index

    def children(self, t: int) -> np.ndarray:
        return self.child_idx[self.child_ptr[t] : self.child_ptr[t + 1]]

    def direct_gene_ptr(self) -> np.ndarray:
        """CSR pointer into ``gene_term`` columns per term (they are sorted by term)."""
        counts = np.bincount(self.gene_term[1], minlength=self.num_terms)
        return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    def direct_counts(self) -> np.ndarray:
        return np.bincount(self.gene_term[1], minlength=self.num_terms).astype(np.int64)

    def vocabulary_positions(self) -> np.ndarray:
        """int64 [G]: each input gene's position in the recipe's sorted gene vocabulary.

        A recipe with ``vocabulary`` (torchcell's genome-wide gene list) records that sorted list in
        ``meta["vocabulary"]["genes"]``; without one the vocabulary is ``gene_ids`` itself (sorted),
        so the position is the gene index. torchcell's deletion guard compares this position with a
        term's direct gene count (``--deletion-rule torchcell-index-guard``).
        """
        vocab = (self.meta.get("vocabulary") or {}).get("genes")
        if not vocab:
            return np.arange(self.num_genes, dtype=np.int64)
        pos = {g: i for i, g in enumerate(vocab)}
        return np.array([pos[g] for g in self.gene_ids], dtype=np.int64)

    def leaves(self) -> int:
        return int(np.sum(np.diff(self.child_ptr) == 0))

    def incidence(self) -> torch.Tensor:
        """Sparse [G, T] direct gene-term incidence (coalesced COO of ones)."""
        import torch

        idx = torch.from_numpy(self.gene_term.copy())
        vals = torch.ones(idx.shape[1])
        shape = (self.num_genes, self.num_terms)
        return torch.sparse_coo_tensor(idx, vals, shape, check_invariants=True).coalesce()

    def widths(
        self, floor: int = 20, multiplier: float = 0.3, rounding: str = "ceil"
    ) -> np.ndarray:
        """Neurons per term: max(floor, round(multiplier * contained)) -- the paper's
        max(20, ceil(0.3 n)); the Lua code used max(10, floor(0.2 n))."""
        f = math.ceil if rounding == "ceil" else math.floor
        return np.array([max(floor, f(multiplier * n - 1e-9)) for n in self.contained], np.int64)

    # -- identity ----------------------------------------------------------------------------
    def _hash(self) -> str:
        h = hashlib.sha256()
        h.update(f"dcellx-ontology-v{FORMAT_VERSION}\n".encode())
        h.update("\n".join(self.term_ids).encode() + b"\0")
        h.update("\n".join(self.gene_ids).encode() + b"\0")
        for arr in (self.child_ptr, self.child_idx, self.gene_term):
            h.update(np.ascontiguousarray(arr, dtype=np.int64).tobytes())
        return h.hexdigest()

    # -- persistence -------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write atomically (``dcellx.fileio.atomic_write``) so a killed build never leaves a
        torn cache; an ``OSError`` is a ``FileWriteError`` naming the path.

        Compact: compressed, integers as int32, each list of names one UTF-8 text (a few hundred
        KB for the full GO; the package ships its named builds in this form). The content hash
        is over the int64 values, so storage never changes a build's identity."""
        for label, names in (
            ("term id", self.term_ids),
            ("term name", self.term_names),
            ("gene id", self.gene_ids),
        ):
            if any("\n" in n for n in names):
                raise DcellxError(f"{self.name}: a {label} holds a line break; cannot save it")

        def write(fh: IO[bytes]) -> None:
            np.savez_compressed(
                fh,
                format_version=np.array(FORMAT_VERSION),
                storage=np.array(STORAGE_VERSION),
                name=_text(self.name),
                term_ids=_text("\n".join(self.term_ids)),
                term_names=_text("\n".join(self.term_names)),
                gene_ids=_text("\n".join(self.gene_ids)),
                strata=self.strata.astype(np.int32),
                child_ptr=self.child_ptr.astype(np.int32),
                child_idx=self.child_idx.astype(np.int32),
                gene_term=self.gene_term.astype(np.int32),
                contained=self.contained.astype(np.int32),
                meta=_text(json.dumps(self.meta)),
                content_hash=_text(self.content_hash),
            )

        atomic_write(path, write)

    @classmethod
    def load(cls, path: str | Path) -> CompiledOntology:
        """Load a saved ontology (no pickle) and check its stored hash against its content.
        Reads the compact storage and the plain one dcellx wrote before it (older caches)."""
        path = Path(path)
        try:
            z = np.load(path, allow_pickle=False)
            if int(z["format_version"]) != FORMAT_VERSION:
                raise DcellxError(f"{path}: compiled with format {int(z['format_version'])}")
            compact = "storage" in z.files
            text = _read_text if compact else (lambda a: a.tolist())
            names = _read_names if compact else (lambda a: a.tolist())
            onto = cls(
                name=str(text(z["name"])),
                term_ids=names(z["term_ids"]),
                term_names=names(z["term_names"]),
                gene_ids=names(z["gene_ids"]),
                strata=z["strata"].astype(np.int64),
                child_ptr=z["child_ptr"].astype(np.int64),
                child_idx=z["child_idx"].astype(np.int64),
                gene_term=z["gene_term"].astype(np.int64).reshape(2, -1),
                contained=z["contained"].astype(np.int64),
                meta=json.loads(str(text(z["meta"]))),
            )
            stored = str(text(z["content_hash"]))
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise InputError(path, None, f"not a compiled dcellx ontology: {exc}") from exc
        if onto.content_hash != stored:
            raise InputError(path, None, "content hash mismatch: the cached file is corrupt")
        return onto


def _text(value: str) -> np.ndarray:
    """A string as uint8 UTF-8 bytes (numpy's own str arrays take 4 bytes a character)."""
    return np.frombuffer(value.encode("utf-8"), dtype=np.uint8)


def _read_text(arr: np.ndarray) -> str:
    return arr.astype(np.uint8).tobytes().decode("utf-8")


def _read_names(arr: np.ndarray) -> list[str]:
    joined = _read_text(arr)
    return joined.split("\n") if joined else []


def compile_graph(
    graph: OntologyGraph, name: str, universe: set[str] | None = None, meta: dict | None = None
) -> CompiledOntology:
    """Turn a filtered ``OntologyGraph`` into arrays. Genes outside ``universe`` are not inputs."""
    rows = graph.pairs()
    if universe is not None:
        rows = {(g, t) for g, t in rows if g in universe}
    genes = sorted({g for g, _ in rows})
    if not genes or len(graph.parents) == 0:
        raise DcellxError(
            f"ontology {name!r} is empty after filtering ({len(graph.parents)} terms, "
            f"{len(genes)} genes): loosen the filters or check the annotation file"
        )
    order = graph.topological_order()
    children = graph.children()
    stratum: dict[str, int] = {}
    for t in order:  # children first: longest path down to a leaf
        stratum[t] = 1 + max((stratum[c] for c in children[t]), default=-1)
    if (
        stratum[graph.root] != max(stratum.values())
        or sum(not p for p in graph.parents.values()) > 1
    ):
        raise DcellxError(f"ontology {name!r} is not rooted at {graph.root}")
    # Root last; ties broken by id so the layout is deterministic.
    terms = sorted(graph.parents, key=lambda t: (stratum[t], t == graph.root, t))
    tindex = {t: i for i, t in enumerate(terms)}
    gindex = {g: i for i, g in enumerate(genes)}
    ptr, idx = [0], []
    for t in terms:
        idx.extend(sorted(tindex[c] for c in children[t]))
        ptr.append(len(idx))
    pairs = sorted((tindex[t], gindex[g]) for g, t in rows)
    gene_term = np.array([[g for _, g in pairs], [t for t, _ in pairs]], dtype=np.int64)
    gene_term = gene_term.reshape(2, -1)
    bits = graph.contained_bits(gindex)
    contained = np.array([bits[t].bit_count() for t in terms], dtype=np.int64)
    return CompiledOntology(
        name=name,
        term_ids=terms,
        term_names=[graph.names.get(t, "") for t in terms],
        gene_ids=genes,
        strata=np.array([stratum[t] for t in terms], dtype=np.int64),
        child_ptr=np.array(ptr, dtype=np.int64),
        child_idx=np.array(idx, dtype=np.int64),
        gene_term=gene_term,
        contained=contained,
        meta=meta or {},
    )
