"""Plain helpers over -1 padded int32 code rows (``dcellx.data.store``): stacking blocks of
different widths, compacting pads, CSR form, distinct values."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def compact_codes(codes: np.ndarray) -> np.ndarray:
    """Rows with their -1 pads moved to the end (gene order kept), trailing all-pad columns
    dropped."""
    if codes.size == 0:
        return codes
    pads = codes < 0
    if pads.any():
        order = np.argsort(pads, axis=1, kind="stable")
        codes = np.take_along_axis(codes, order, axis=1)
    width = int((codes >= 0).sum(axis=1).max()) if len(codes) else 0
    return np.ascontiguousarray(codes[:, :width])


def concat_codes(parts: Iterable[np.ndarray]) -> np.ndarray:
    """Stack code blocks of different widths (padded with -1)."""
    parts = list(parts)
    if not parts:
        return np.zeros((0, 0), dtype=np.int32)
    k = max(p.shape[1] for p in parts)
    out = np.full((sum(len(p) for p in parts), k), -1, dtype=np.int32)
    at = 0
    for p in parts:
        out[at : at + len(p), : p.shape[1]] = p
        at += len(p)
    return out


def csr(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ptr int64 [n+1], flat int64 [K]) of -1 padded rows, gene order kept."""
    present = codes >= 0
    ptr = np.zeros(len(codes) + 1, dtype=np.int64)
    np.cumsum(present.sum(axis=1), out=ptr[1:])
    return ptr, codes[present].astype(np.int64)


def distinct(x: np.ndarray) -> np.ndarray:
    """The sorted distinct values of ``x``: ``np.unique`` by one sort (numpy's hash-based unique
    takes ~0.6 s for 2*10^6 int64 here, a sort ~0.1 s)."""
    s = np.sort(np.asarray(x).ravel())
    if len(s) == 0:
        return s
    keep = np.empty(len(s), dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]
