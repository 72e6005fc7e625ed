"""The columnar genotype store: ``GenotypeDataset`` and the sort-merge of repeated measurements.

A genome-wide screen has ~10^7 measurements of ~10^7 gene sets over ~6,000 genes, so a genotype is
stored as a row of gene codes against one vocabulary, never as a Python tuple of names:

.. math::

    \\text{codes} \\in \\{-1, \\dots, V-1\\}^{n \\times k_{max}}\\ (\\text{int32}),
    \\quad \\text{values} \\in \\mathbb{R}^{n \\times P},
    \\quad \\text{counts} \\in \\mathbb{N}^n,

20 bytes a genotype for ``k_max = 3`` beyond its values (12 for the codes, 8 for the count).
A row keeps its genes in the order first seen in the file; per-row string annotations (``meta``)
are categorical codes against a few levels. ``genes`` (a list of name tuples) and ``meta`` (string
arrays) are materialised on first use only, for the code that wants names.

Repeated gene sets are merged by sorting a packed key of each measurement's *sorted* codes
(``merge_measurements``), not by a dict of frozensets: groups keep first-seen order, values are
summed in file order (``np.bincount`` adds in input order, so the mean equals a running sum).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from dcellx.data.codes import distinct
from dcellx.errors import ConfigError

Meta = dict[str, tuple[np.ndarray, np.ndarray]]  # key -> (codes [n], levels [L] str)


def code_dtype(levels: int) -> np.dtype:
    """The smallest unsigned integer type that indexes ``levels`` categories."""
    return np.dtype(np.uint8 if levels <= 1 << 8 else np.uint16 if levels <= 1 << 16 else np.int32)


def categorical(column: Sequence[str] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, levels) of a string column: ``levels[codes]`` gives it back."""
    levels, codes = np.unique(np.asarray(column, dtype=str), return_inverse=True)
    return codes.astype(code_dtype(len(levels))), levels


def codes_from_tuples(
    genes: Sequence[Sequence[str]], vocab: list[str] | None = None
) -> tuple[np.ndarray, list[str]]:
    """(int32 [n, k_max] codes, vocabulary) of name tuples; new names are appended to ``vocab``
    in first-seen order."""
    vocab = [] if vocab is None else vocab
    index = {g: i for i, g in enumerate(vocab)}
    k = max((len(g) for g in genes), default=0)
    codes = np.full((len(genes), k), -1, dtype=np.int32)
    for i, gs in enumerate(genes):
        for j, g in enumerate(gs):
            c = index.get(g)
            if c is None:
                c = index[g] = len(vocab)
                vocab.append(g)
            codes[i, j] = c
    return codes, vocab


class GenotypeDataset:
    """Perturbed gene sets with their measured phenotypes, one row per distinct genotype.

    Build it from name tuples (``genes``) or from ``codes`` [n, k_max] (int32, -1 padded) against
    ``vocab``. ``counts``: measurements averaged into each row (empty: one each). ``meta``:
    per-row string annotations (for example allele types), stored as categorical codes.
    """

    def __init__(
        self,
        genes: Sequence[Sequence[str]] | None = None,
        values: np.ndarray | Sequence | None = None,
        phenotypes: Sequence[str] = ("value",),
        source: str = "",
        counts: np.ndarray | Sequence[int] | None = None,
        meta: dict[str, np.ndarray] | None = None,
        *,
        codes: np.ndarray | None = None,
        vocab: Sequence[str] | None = None,
        meta_codes: Meta | None = None,
    ) -> None:
        if codes is None:
            genes = [tuple(g) for g in (genes or [])]
            codes, vocab_list = codes_from_tuples(genes)
            self.__dict__["genes"] = genes  # already materialised
        else:
            if vocab is None:
                raise ConfigError(f"{source}: gene codes need a vocabulary")
            vocab_list = list(vocab)
            codes = np.asarray(codes, dtype=np.int32)
            codes = codes.reshape(len(codes), -1) if codes.ndim != 2 else codes
        self.codes: np.ndarray = np.ascontiguousarray(codes, dtype=np.int32)
        self.vocab: list[str] = vocab_list
        self.phenotypes: list[str] = list(phenotypes)
        self.source = source
        n = len(self.codes)
        raw = np.zeros((n, 0)) if values is None else values
        self.values: np.ndarray = np.ascontiguousarray(raw, dtype=np.float64).reshape(n, -1)
        if self.values.shape[1] != len(self.phenotypes):
            raise ConfigError(
                f"{self.source}: {self.values.shape[1]} value columns but "
                f"{len(self.phenotypes)} phenotype names"
            )
        c = np.asarray([] if counts is None else counts, dtype=np.int64)
        self.counts: np.ndarray = np.ones(n, dtype=np.int64) if c.size == 0 else c
        if self.counts.shape != (n,):
            raise ConfigError(f"{self.source}: counts has shape {self.counts.shape}, need ({n},)")
        self.meta_codes: Meta | None = meta_codes
        if meta is not None:
            cols = {k: np.asarray(v) for k, v in meta.items()}
            bad = {k: v.shape for k, v in cols.items() if v.shape[:1] != (n,)}
            if bad:
                raise ConfigError(f"{self.source}: meta arrays need {n} rows, got {bad}")
            self.meta_codes = {k: categorical(v) for k, v in cols.items()}

    def __len__(self) -> int:
        return len(self.codes)

    def __repr__(self) -> str:
        return f"GenotypeDataset({len(self)} genotypes, {self.phenotypes}, {self.source!r})"

    @property
    def lengths(self) -> np.ndarray:
        """int64 [n]: genes per genotype."""
        return (self.codes >= 0).sum(axis=1, dtype=np.int64)

    @cached_property
    def genes(self) -> list[tuple[str, ...]]:
        """Name tuples, one per row (materialised on first use: ~100 bytes a genotype)."""
        names = np.asarray(self.vocab + [""], dtype=object)  # code -1 -> ""
        table = names[self.codes]
        lens = self.lengths
        if len(lens) and (lens == self.codes.shape[1]).all():
            return list(map(tuple, table.tolist()))
        return [tuple(row[:k]) for row, k in zip(table.tolist(), lens.tolist(), strict=True)]

    @cached_property
    def meta(self) -> dict[str, np.ndarray] | None:
        """Per-row annotations as string arrays (materialised on first use)."""
        if self.meta_codes is None:
            return None
        return {k: levels[codes] for k, (codes, levels) in self.meta_codes.items()}

    def gene_names(self) -> list[str]:
        """The distinct genes of the rows, sorted."""
        used = distinct(self.codes[self.codes >= 0])
        return sorted(self.vocab[i] for i in used.tolist())

    def encode_names(self, index: dict[str, int]) -> np.ndarray:
        """int64 [len(vocab)]: ``index`` of each vocabulary name, -1 where it has none."""
        return np.fromiter((index.get(g, -1) for g in self.vocab), np.int64, len(self.vocab))

    def with_values(self, values: np.ndarray, phenotypes: Sequence[str]) -> GenotypeDataset:
        """The same genotypes (and counts and meta) with other values."""
        return GenotypeDataset(
            None,
            values,
            phenotypes,
            self.source,
            self.counts,
            codes=self.codes,
            vocab=self.vocab,
            meta_codes=self.meta_codes,
        )

    def subset(self, idx: Sequence[int] | np.ndarray | slice) -> GenotypeDataset:
        """Rows selected by integer indices, a boolean mask or a slice (order as given)."""
        rows = np.arange(len(self))[idx]
        meta = None
        if self.meta_codes is not None:
            meta = {k: (c[rows], levels) for k, (c, levels) in self.meta_codes.items()}
        return GenotypeDataset(
            None,
            self.values[rows],
            self.phenotypes,
            self.source,
            self.counts[rows],
            codes=self.codes[rows],
            vocab=self.vocab,
            meta_codes=meta,
        )


def _sort_rows(codes: np.ndarray) -> np.ndarray:
    """Each row sorted: min/max exchanges for rows of 2 or 3 (``np.sort(axis=1)`` costs a call
    per row), ``np.sort`` otherwise."""
    k = codes.shape[1]
    if k not in (2, 3):
        return np.sort(codes, axis=1)  # k = 0 or 1: itself
    cols = [codes[:, j] for j in range(k)]
    pairs = [(0, 1)] if k == 2 else [(0, 1), (1, 2), (0, 1)]  # a sorting network
    for a, b in pairs:
        cols[a], cols[b] = np.minimum(cols[a], cols[b]), np.maximum(cols[a], cols[b])
    return np.stack(cols, axis=1)


def sorted_keys(codes: np.ndarray, vocab_size: int) -> np.ndarray:
    """One key per row that equals for rows holding the same gene *set*: the row's sorted codes
    packed into an int64 where ``(V + 1)^k`` fits, else the sorted rows as opaque bytes."""
    srt = _sort_rows(codes)
    k = codes.shape[1]
    if (vocab_size + 1) ** k < 1 << 62:
        return _pack(srt, vocab_size + 1)
    return np.ascontiguousarray(srt).view(np.dtype((np.void, 4 * k))).ravel()


def _pack(srt: np.ndarray, base: int) -> np.ndarray:
    """int64 [m]: sorted rows as base-``base`` numbers, the -1 pads (sorted first) as digit 0,
    so a row and the same row with more pads pack alike."""
    key = np.zeros(len(srt), dtype=np.int64)
    for j in range(srt.shape[1]):
        key *= base
        key += srt[:, j].astype(np.int64) + 1
    return key


def repeats_a_gene(codes: np.ndarray) -> np.ndarray:
    """bool [m]: rows that name one gene twice (pads aside)."""
    srt = _sort_rows(codes)
    return ((srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)).any(axis=1)


@dataclass
class Merged:
    """Groups of measurements: ``row[i]`` is measurement i's genotype (groups in first-seen
    order), ``first[r]`` the measurement that first named genotype r."""

    row: np.ndarray  # int64 [m]
    first: np.ndarray  # int64 [n]

    def __len__(self) -> int:
        return len(self.first)

    def mean(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(per-genotype mean [n, P], counts [n]) of per-measurement ``values`` [m, P]."""
        n = len(self.first)
        counts = np.bincount(self.row, minlength=n).astype(np.int64)
        cols = range(values.shape[1])
        sums = np.stack(
            [np.bincount(self.row, weights=values[:, p], minlength=n) for p in cols], axis=1
        )
        # bincount starts each sum at +0.0, a running sum at the first value: they differ only
        # where every value is -0.0 (a running sum keeps -0.0; +0.0 + -0.0 is +0.0)
        negzero = (values == 0) & np.signbit(values)
        if negzero.any():
            for p in cols:
                others = np.bincount(self.row, weights=~negzero[:, p], minlength=n)
                sums[others == 0, p] = -0.0
        return sums.reshape(n, values.shape[1]) / counts[:, None], counts

    def differs(self, values: np.ndarray) -> np.ndarray:
        """bool [m]: measurement i's values differ from the first measurement of its genotype."""
        return (values != values[self.first[self.row]]).any(axis=1)

    def levels(self, codes: np.ndarray, levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-genotype (codes, levels) of a per-measurement categorical annotation: the level
        itself where all measurements agree, else the ``|``-join of the sorted distinct levels."""
        n, nl = len(self.first), len(levels)
        codes = codes.astype(np.int64, copy=False)
        out = codes[self.first]  # the first measurement's level
        agree = np.ones(n, dtype=bool)
        agree[self.row[codes != out[self.row]]] = False
        labels = levels.tolist()
        mixed = np.flatnonzero(~agree)
        if len(mixed):
            # the distinct levels of each mixed genotype as a bit set, one row per genotype
            sel = ~agree[self.row]
            slot_of = np.full(n, -1, dtype=np.int64)
            slot_of[mixed] = np.arange(len(mixed))
            slot = slot_of[self.row[sel]]
            order = np.argsort(levels)  # "|".join of sorted strings
            rank = np.empty(nl, dtype=np.int64)
            rank[order] = np.arange(nl)
            width = max(1, -(-nl // 64))
            bits = np.zeros((len(mixed), width), dtype=np.uint64)
            r = rank[codes[sel]]
            for w in range(width):
                inw = (r // 64) == w
                np.bitwise_or.at(
                    bits[:, w], slot[inw], np.uint64(1) << (r[inw] % 64).astype(np.uint64)
                )
            if width == 1:  # one word a set: a 1-d unique, not a sort of rows
                flat_sets, inv = np.unique(bits[:, 0], return_inverse=True)
                sets = flat_sets[:, None]
            else:
                sets, inv = np.unique(bits, axis=0, return_inverse=True)
            sorted_levels = [labels[i] for i in order.tolist()]
            for s in sets:
                on = [b for b in range(nl) if int(s[b // 64]) >> (b % 64) & 1]
                labels.append("|".join(sorted_levels[b] for b in on))
            out = out.copy()
            out[mixed] = nl + inv.ravel()
        present = np.bincount(out, minlength=len(labels)) > 0
        remap = np.cumsum(present) - 1
        lv = np.asarray(labels, dtype=str)[present]
        return remap[out].astype(code_dtype(len(lv))), lv


KEY_BASE = 1 << 21  # packed_keys: one 21-bit digit per gene, up to 3 genes in an int64


def packed_keys(codes: np.ndarray) -> np.ndarray | None:
    """``sorted_keys`` with a fixed base, so that blocks read at different times (a vocabulary
    still growing) give comparable keys: computed block by block while the block is hot in the
    cache, not over 10^7 rows at the end. ``None`` beyond 3 genes or 2^21 - 1 codes."""
    if codes.shape[1] > 3 or (len(codes) and int(codes.max()) >= KEY_BASE - 1):
        return None
    return _pack(_sort_rows(codes), KEY_BASE)


def merge_measurements(
    codes: np.ndarray, vocab_size: int, keys: np.ndarray | None = None
) -> Merged:
    """Group measurements ``codes`` [m, k] by gene set, genotypes in first-seen order;
    ``keys``: their ``packed_keys``, if the reader made them."""
    m = len(codes)
    if m == 0:
        return Merged(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    keys = sorted_keys(codes, vocab_size) if keys is None else keys
    if keys.dtype == np.int64:
        # one fast (unstable) sort; the first measurement of a group is its smallest index
        by_key = np.argsort(keys, kind="quicksort")
        srt = keys[by_key]
        start = np.empty(m, dtype=bool)
        start[0] = True
        np.not_equal(srt[1:], srt[:-1], out=start[1:])
        del srt
        bounds = np.flatnonzero(start)
        first = np.minimum.reduceat(by_key, bounds)
        inverse = np.empty(m, dtype=np.int64)
        inverse[by_key] = np.cumsum(start) - 1
        del by_key, start
    else:
        _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    del keys
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(first), dtype=np.int64)
    rank[order] = np.arange(len(first), dtype=np.int64)
    return Merged(rank[inverse.ravel()], first[order].astype(np.int64))


def joint_codes(datasets: Sequence[GenotypeDataset]) -> tuple[list[np.ndarray], list[str]]:
    """Each dataset's codes against one joint vocabulary (the first's, then new names in order)."""
    vocab = list(datasets[0].vocab) if datasets else []
    index = {g: i for i, g in enumerate(vocab)}
    out = []
    for ds in datasets:
        lut = np.fromiter((index.setdefault(g, len(index)) for g in ds.vocab), np.int64)
        out.append(np.where(ds.codes >= 0, lut[np.maximum(ds.codes, 0)], -1).astype(np.int32))
    vocab = list(index)
    return out, vocab
