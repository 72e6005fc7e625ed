"""The DCell format (``k g1 .. gk value``) in blocks parsed at C speed (``dcellx.data.blocks``).

A block whose lines all have one gene count ``k``, single spaces between fields and nothing the
line reader treats specially is parsed by pyarrow as ``k + 2`` space-separated columns; anything
else (a comment, a tab, two spaces, another ``k``, a value that is not a finite number, a gene
twice) returns ``False`` and the reader walks that block line by line, which names the line.
"""

from __future__ import annotations

import re

import numpy as np

from dcellx.data.blocks import arrow_table, dictionary_codes, has_empty_line
from dcellx.data.collect import MeasurementLog
from dcellx.data.store import repeats_a_gene

# bytes the line reader handles and pyarrow would not: '#', CR, tabs, other line breaks that
# str.splitlines knows, and any non-ASCII byte (a byte-order mark, NEL, U+2028/9)
_LINE_READER_ONLY = re.compile(rb"[#\r\t\x0b\x0c\x1c-\x1e\x80-\xff]")


_SPECIAL = (b"#", b"\r", b"\t", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e")


def special_line(body: bytes) -> tuple[int, int] | None:
    """(start, end) of the first line of ``body`` only the line reader can take, or None."""
    if body.isascii() and not any(c in body for c in _SPECIAL):  # memchr-fast
        return None
    m = _LINE_READER_ONLY.search(body)
    if m is None:
        return None
    end = body.find(b"\n", m.end())
    return body.rfind(b"\n", 0, m.start()) + 1, len(body) if end < 0 else end + 1


def split_special(body: bytes, first: int) -> list[tuple[bool, int, bytes]]:
    """``body`` as (line reader only?, first line, bytes) runs: a comment (or any line only the
    line reader takes) costs that line, not its block."""
    runs: list[tuple[bool, int, bytes]] = []
    while body:
        span = special_line(body)
        if span is None:
            runs.append((False, first, body))
            break
        start, end = span
        if start:
            runs.append((False, first, body[:start]))
        at = first + body.count(b"\n", 0, start)
        runs.append((True, at, body[start:end]))
        first, body = at + body.count(b"\n", start, end), body[end:]
    return runs


def read_dcell_block(body: bytes, first: int, out: MeasurementLog) -> bool:
    """Add the genotypes of ``body`` (whole lines from line ``first``, none of them a
    ``special_line``) to ``out``; ``False`` (nothing added) when the block must go through the
    line reader."""
    if has_empty_line(body):
        return False  # pyarrow would make every empty line a row
    head = body[: body.find(b" ")]
    if not head.isdigit() or int(head) < 1:
        return False
    k = int(head)
    import pyarrow as pa

    names = [f"c{i}" for i in range(k + 2)]
    types = {"c0": pa.int64(), names[-1]: pa.float64()}
    types.update({n: pa.dictionary(pa.int32(), pa.string()) for n in names[1:-1]})
    table = arrow_table(body, names, types, " ", [])  # no null cells: "nan" is an error
    if table is None:
        return False
    n = table.num_rows
    if n == 0 or table.column("c0").null_count or (table.column("c0").to_numpy() != k).any():
        return False
    values = table.column(names[-1]).to_numpy().astype(np.float64, copy=False)
    if not np.isfinite(values).all():
        return False
    codes = np.empty((n, k), dtype=np.int32)
    for j, name in enumerate(names[1:-1]):
        local, strings = dictionary_codes(table.column(name))
        if "" in strings:
            return False
        lut = np.fromiter((out.code(g) for g in strings), np.int32, len(strings))
        codes[:, j] = lut[local]
    if repeats_a_gene(codes).any():
        return False  # a gene listed twice: the line reader names the line
    lines = np.arange(first, first + n, dtype=np.int64)
    out.add_block({"codes": codes, "values": values[:, None], "lines": lines})
    return True
