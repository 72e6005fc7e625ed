"""Measurements as a reader finds them, merged into a ``GenotypeDataset`` once the file is read.

Every reader (the DCell format, genotype tables, the Costanzo and Kuzmin screens) appends its
measurements here, one line at a time (``add``) or a parsed block at a time (``add_block``), as
columns: gene codes against one vocabulary, values, the line and source (zip member) of each.
``finish`` merges repeated gene sets by sorting (``dcellx.data.store.merge_measurements``), checks
``duplicates``, and turns per-measurement annotations into per-genotype categorical ``meta``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from dcellx.data.codes import compact_codes, concat_codes
from dcellx.data.store import (
    GenotypeDataset,
    Merged,
    code_dtype,
    merge_measurements,
    packed_keys,
)
from dcellx.errors import ConfigError, InputError, warn

Duplicates = Literal["mean", "error"]
ALLELE_TYPES = ("deletion", "ts", "damp", "other")
# The largest label magnitude: float32's largest finite value (models train in float32).
LABEL_MAX = float(np.finfo(np.float32).max)
_CHUNK = 1 << 20  # measurements per vectorised step where a step needs [m, k, k] temporaries


class MeasurementLog:
    """Columns of measurements; ``types`` (allele type codes per gene, for screens) optional.

    ``meta`` keys name per-measurement string annotations stored as codes into ``levels[key]``.
    """

    def __init__(
        self, path: Path | str, duplicates: Duplicates, meta_keys: Sequence[str] = ()
    ) -> None:
        if duplicates not in ("mean", "error"):
            raise ConfigError(f"duplicates must be 'mean' or 'error', not {duplicates!r}")
        self.path, self.duplicates = Path(path), duplicates
        self.vocab: list[str] = []
        self.index: dict[str, int] = {}
        self.labels: list[str] = []  # sources (the file, or each zip member)
        self.levels: dict[str, dict[str, int]] = {k: {} for k in meta_keys}
        self._blocks: list[dict[str, np.ndarray]] = []
        self.conflicts: str | None = None  # the warning about disagreeing measurements
        self._rows: dict[str, list] = {}
        self._reset_rows()

    # -- appending --------------------------------------------------------------------------
    def _reset_rows(self) -> None:
        self._rows = {"codes": [], "values": [], "lines": [], "types": []}
        self._rows.update({f"meta:{k}": [] for k in self.levels})

    def code(self, gene: str) -> int:
        """The vocabulary code of ``gene`` (a new one if unseen)."""
        c = self.index.get(gene)
        if c is None:
            c = self.index[gene] = len(self.vocab)
            self.vocab.append(gene)
        return c

    def level(self, key: str, value: str) -> int:
        table = self.levels[key]
        return table.setdefault(value, len(table))

    def source(self, label: str) -> None:
        """Measurements from now on come from ``label`` (a zip member, for messages)."""
        self.flush()
        self.labels.append(label)
        self.path = Path(label)

    def add(
        self,
        genes: Sequence[str],
        values: list[float],
        lineno: int,
        types: Sequence[int] = (),
        **meta: str,
    ) -> None:
        """One measurement (the line reader's path)."""
        rows = self._rows
        rows["codes"].append([self.code(g) for g in genes])
        rows["values"].append(values)
        rows["lines"].append(lineno)
        rows["types"].append(list(types))
        for key, val in meta.items():
            rows[f"meta:{key}"].append(self.level(key, val))

    def flush(self) -> None:
        """Move the measurements added one by one into a block."""
        rows = self._rows
        if not rows["lines"]:
            return
        k = max(map(len, rows["codes"]))
        codes = np.full((len(rows["codes"]), k), -1, dtype=np.int32)
        types = np.full(codes.shape, -1, dtype=np.int8)
        for i, (c, t) in enumerate(zip(rows["codes"], rows["types"], strict=True)):
            codes[i, : len(c)] = c
            types[i, : len(t)] = t
        block = {
            "codes": codes,
            "values": np.asarray(rows["values"], dtype=np.float64),
            "lines": np.asarray(rows["lines"], dtype=np.int64),
            "types": types,
        }
        block.update({k: np.asarray(v, dtype=np.int32) for k, v in rows.items() if ":" in k})
        self._append(block)
        self._reset_rows()

    def add_block(self, block: dict[str, np.ndarray]) -> None:
        """Measurements parsed column-wise: ``codes`` [b, k] int32, ``values`` [b, P], ``lines``
        [b], optional ``types`` [b, k] and ``meta:<key>`` [b] codes."""
        self.flush()
        self._append(block)

    def _append(self, block: dict[str, np.ndarray]) -> None:
        if len(block["lines"]) == 0:
            return
        self._check_range(block["values"], block["lines"])
        if block["lines"].max() < 1 << 31:  # 4 bytes a measurement, not 8, for 10^7 of them
            block["lines"] = block["lines"].astype(np.int32, copy=False)
        block["source"] = np.full(len(block["lines"]), max(len(self.labels) - 1, 0), np.int16)
        key = packed_keys(block["codes"])
        if key is not None:
            block["key"] = key
        if "types" in block and block["codes"].shape[1] <= 3:
            block["canon"] = canonical_types(block["codes"], block["types"])
        self._blocks.append(block)

    def _check_range(self, values: np.ndarray, lines: np.ndarray) -> None:
        """Every value must be finite in float32, the dtype a model trains in: 1e39 is finite in
        float64 and ``inf`` once trained on (a run of NaN that exits 0). Refused here, where
        every reader's values pass with their file and line."""
        over = np.abs(values.reshape(len(lines), -1)) > LABEL_MAX
        if over.any():
            i = int(np.argmax(over.any(axis=1)))
            value = values.reshape(len(lines), -1)[i][over[i]][0]
            where = self.labels[-1] if self.labels else str(self.path)
            raise InputError(
                where,
                int(lines[i]),
                f"value {float(value)!r} is outside the float32 range dcellx trains in "
                f"(|value| <= {LABEL_MAX:.4g})",
            )

    @property
    def measurements(self) -> int:
        return sum(len(b["lines"]) for b in self._blocks) + len(self._rows["lines"])

    def _column(self, name: str, dtype: type | None = None, keep: bool = False) -> np.ndarray:
        """One column of every block, concatenated; the blocks' copies are released unless
        ``keep`` (a 2*10^7-measurement screen must not hold each column twice)."""
        parts = [b[name] if keep else b.pop(name) for b in self._blocks]
        out = concat_codes(parts) if name in ("codes", "types") else np.concatenate(parts)
        del parts
        return out if dtype is None else out.astype(dtype, copy=False)

    # -- merging ----------------------------------------------------------------------------
    def finish(self, phenotypes: list[str], source: str | None = None) -> GenotypeDataset:
        """The merged dataset; warns about (or, ``duplicates="error"``, refuses) genotypes
        whose measurements disagree. Raises when there is no measurement."""
        self.flush()
        label = source or str(self.path)
        if not self._blocks:
            raise InputError(label, None, "no genotypes found")
        codes = self._column("codes", np.int32)
        values = self._column("values", np.float64).reshape(len(codes), -1)
        lines = self._column("lines")
        keyed = all("key" in b for b in self._blocks)
        keys = self._column("key") if keyed else None
        groups = merge_measurements(codes, len(self.vocab), keys)
        del keys
        diff = groups.differs(values)
        self.conflicts = None
        if diff.any():
            i = int(np.argmax(diff))
            r = int(groups.row[i])
            f = int(groups.first[r])
            if self.duplicates == "error":
                srcs = self._column("source")
                where = self.labels[srcs[i]] if self.labels else str(self.path)
                raise InputError(
                    where,
                    int(lines[i]),
                    f"duplicate genotype {' '.join(self._names(codes[i]))} (first on line "
                    f"{int(lines[f])}) with a different value: {values[i].tolist()} vs "
                    f"{values[f].tolist()}",
                )
            n_bad = int((np.bincount(groups.row[diff], minlength=len(groups)) > 0).sum())
            self.conflicts = (
                f"{n_bad} genotype(s) measured more than once with different values were "
                f"averaged (first: {' '.join(self._names(codes[f]))}, lines {int(lines[f])} "
                f"and {int(lines[i])}); --duplicates error refuses them"
            )
            warn(f"{label}: {self.conflicts}")
        mean, counts = groups.mean(values)
        meta = self._meta(groups, codes)
        del values, lines
        return GenotypeDataset(
            None,
            mean,
            phenotypes,
            label,
            counts,
            codes=compact_codes(codes[groups.first]),
            vocab=self.vocab,
            meta_codes=meta or None,
        )

    def _names(self, row: np.ndarray) -> list[str]:
        return [self.vocab[c] for c in row.tolist() if c >= 0]

    def _meta(self, groups: Merged, codes: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        if self.levels and all("canon" in b for b in self._blocks):
            kind, names = genotype_order_types(codes, self._column("canon"), groups)
            out["allele_types"] = groups.levels(kind, names)
        elif self.levels and any("types" in b for b in self._blocks):
            kind, names = allele_strings(codes, self._column("types", np.int8), groups)
            out["allele_types"] = groups.levels(kind, names)
        for key, table in self.levels.items():
            if key == "allele_types":
                continue
            per = self._column(f"meta:{key}")
            levels = np.asarray(list(table), dtype=str)
            out[key] = groups.levels(per, levels)
        return out


_DIGITS = len(ALLELE_TYPES) + 1  # 0: no gene, 1..4: ALLELE_TYPES


def _ranks(codes: np.ndarray) -> np.ndarray:
    """int64 [m, k]: each gene's position among its row's genes in code order (-1 for a pad)."""
    present = codes >= 0
    rank = np.zeros(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        for i in range(codes.shape[1]):
            if i != j:
                rank[:, j] += present[:, i] & (codes[:, i] < codes[:, j])
    return np.where(present, rank, -1)


def canonical_types(codes: np.ndarray, types: np.ndarray) -> np.ndarray:
    """int16 [b]: a block's allele types as base-5 digits in *code* order (k <= 3), computed while
    the block is read; ``genotype_order_types`` puts them in each genotype's order at the end."""
    rank = _ranks(codes)
    digit = np.where(rank >= 0, types.astype(np.int64) + 1, 0)
    power = np.where(rank >= 0, _DIGITS ** np.maximum(rank, 0), 0)
    return (digit * power).sum(axis=1).astype(np.int16)


def _decode(value: int) -> list[int]:
    digits = []
    while value:
        value, d = divmod(value, _DIGITS)
        digits.append(d)
    return digits


def genotype_order_types(
    codes: np.ndarray, canon: np.ndarray, groups: Merged
) -> tuple[np.ndarray, np.ndarray]:
    """``allele_strings`` from ``canonical_types``: one table lookup per measurement (by its
    genotype's gene permutation) instead of matching genes row by row."""
    k = codes.shape[1]
    rank = _ranks(codes[groups.first])  # each genotype's stored order, as code ranks
    perm = np.zeros(len(rank), dtype=np.int64)
    for j in range(k - 1, -1, -1):
        perm = perm * 4 + np.where(rank[:, j] >= 0, rank[:, j], 3)
    n_canon = _DIGITS**k
    lut = np.zeros((4**k, n_canon), dtype=np.int64)
    for p in np.unique(perm).tolist():
        ranks = [(p >> (2 * j)) & 3 for j in range(k)]
        for c in range(n_canon):
            d = _decode(c) + [0] * k
            lut[p, c] = sum(d[r] * _DIGITS**j for j, r in enumerate(ranks) if r != 3)
    return _combo_levels(lut[perm[groups.row], canon.astype(np.int64)])


def _combo_levels(combo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes [m], levels) of base-5 allele-type combinations: ``+``-joined type names."""
    if len(combo) and int(combo.max()) < 1 << 22:  # few combinations: a table, not a sort
        present = np.bincount(combo) > 0
        used = np.flatnonzero(present)
        inv = (np.cumsum(present) - 1)[combo]
    else:
        used, inv = np.unique(combo, return_inverse=True)
    names = ["+".join(ALLELE_TYPES[d - 1] for d in _decode(v)) for v in used.tolist()]
    return inv.ravel().astype(code_dtype(len(used))), np.asarray(names, dtype=str)


def allele_strings(
    codes: np.ndarray, types: np.ndarray, groups: Merged
) -> tuple[np.ndarray, np.ndarray]:
    """Per measurement, its allele types ``+``-joined in its *genotype's* gene order (the order
    first seen), as (codes [m], levels): one measurement can name the genes in another order."""
    m, k = codes.shape
    combo = np.zeros(m, dtype=np.int64)
    for a in range(0, m, _CHUNK):
        b = min(m, a + _CHUNK)
        own = codes[groups.first[groups.row[a:b]]]  # the genotype's gene order
        eq = (own[:, :, None] == codes[a:b, None, :]) & (own[:, :, None] >= 0)
        pos = eq.argmax(axis=2)
        t = np.take_along_axis(types[a:b].astype(np.int64), pos, axis=1)
        t = np.where(own >= 0, t + 1, 0)  # 0: no gene, 1..4: ALLELE_TYPES
        for j in range(k - 1, -1, -1):
            combo[a:b] = combo[a:b] * _DIGITS + t[:, j]
    return _combo_levels(combo)
