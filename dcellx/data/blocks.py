"""A tab-separated screen as blocks of whole lines, each parsed at C speed or, if need be, by line.

A block is ~32 MB of whole lines with the number of its first line. ``TextBlock.columns`` parses
the columns a reader needs with pyarrow's CSV engine (strings dictionary-encoded: a screen names
~10^4 strains across ~10^7 rows); it returns ``None`` whenever the block holds anything the
line reader treats specially (blank or ``#`` lines, a lone carriage return, a byte-order mark) or
that pyarrow refuses (a wrong field count, a cell that is not a number, bytes that are not UTF-8).
The reader then walks that block line by line (``TextBlock.rows``), which names the file and line
of the first problem exactly as before: only the failing block is re-read, never the file.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import IO

import numpy as np

from dcellx.data.sga import Header, Roles, ScreenCollector, text_sources
from dcellx.errors import InputError
from dcellx.fileio import decode_utf8

BLOCK_BYTES = 1 << 25
_COMMENT = re.compile(rb"(?:^|\n)[ \t\f\v]*#")
_NONEMPTY = re.compile(rb"[^\n]+")


def has_empty_line(body: bytes) -> bool:
    """Whether ``body`` (whole lines) holds an empty line. pyarrow's CSV engine makes each a row
    (a block of 32 million newlines: 1.5 GB and 9 s), so such a block goes to the line reader,
    which steps over them at C speed (``block_lines``)."""
    return body.startswith(b"\n") or b"\n\n" in body


def line_reader_only(body: bytes) -> bool:
    """Whether ``body`` holds what only the line reader handles: a ``#`` line, a carriage return
    not ending a line, a byte-order mark (the line reader drops one at the start of any line).
    An empty line too (``has_empty_line``). A whitespace-only line needs no check:
    pyarrow refuses a line with too few fields, and a line of empty fields names no strain,
    which sends the block to the line reader too."""
    if b"\xef\xbb\xbf" in body or (b"\r" in body and body.count(b"\r") != body.count(b"\r\n")):
        return True
    if has_empty_line(body):
        return True
    return b"#" in body and _COMMENT.search(body) is not None


# cells a number column reads as missing (the line reader also takes any other casing)
NULLS = ["", "nan", "NaN", "NAN", "Nan", "na", "NA", "n/a", "N/A", "none", "None", "null", "NULL"]


def line_blocks(label: str, opener: Callable[[], IO[bytes]]) -> Iterator[tuple[int, bytes]]:
    """(number of the first line, bytes of whole lines) until the end of the source."""
    try:
        with opener() as fh:
            line, rest = 1, b""
            while True:
                chunk = fh.read(BLOCK_BYTES)
                if not chunk:
                    if rest:
                        yield line, rest + b"\n"
                    return
                cut = chunk.rfind(b"\n")
                if cut < 0:
                    rest += chunk
                    continue
                body, rest = rest + chunk[: cut + 1], chunk[cut + 1 :]  # one copy of the block
                yield line, body
                line += body.count(b"\n")
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(label, None, f"cannot read: {exc}") from exc


def block_lines(label: str, first: int, body: bytes) -> Iterator[tuple[int, str]]:
    """(line, text) of the data lines of ``body``, as ``dcellx.data.sga.data_lines`` gives them.
    Blank lines are stepped over at C speed (counted, never split out one by one): a body of 32
    million newlines costs a scan, not 32 million Python objects."""
    line, at = first, 0
    for m in _NONEMPTY.finditer(body):
        line += body.count(b"\n", at, m.start())
        at = m.start()
        raw = m.group()
        if not raw.strip():
            continue
        text = decode_utf8(label, raw, line).rstrip("\r\n")
        if text.strip() and not text.lstrip().startswith("#"):
            yield line, text


@dataclass
class TextBlock:
    """Whole lines ``body`` of source ``label`` from line ``first``; ``head`` its header."""

    label: str
    first: int
    body: bytes
    head: Header
    ix: dict[str, int]  # column of each role (the header's width for a role it lacks)

    @property
    def width(self) -> int:
        return len(self.head.names)

    def rows(self, out: ScreenCollector) -> Iterator[tuple[str, int, list[str], dict[str, int]]]:
        """(label, line, cells, ix) per data line, counted in ``out.read``; a missing role's
        column is an extra empty cell."""
        for lineno, text in block_lines(self.label, self.first, self.body):
            cells = text.split("\t")
            if len(cells) != self.width:
                problem = f"expected {self.width} tab-separated fields, got {len(cells)}"
                raise InputError(self.label, lineno, problem)
            cells.append("")
            out.read += 1
            yield self.label, lineno, cells, self.ix

    def prefetch(self, pool: Executor, strings: list[str], numbers: list[str]) -> None:
        """Start ``columns`` in ``pool`` (pyarrow parses without the GIL: on two cores the next
        block is parsed while this one is filtered and merged)."""
        self._future = pool.submit(self.columns, strings, numbers)

    def parsed(self, strings: list[str], numbers: list[str]) -> dict[str, object] | None:
        """``columns``, from ``prefetch`` if it was started."""
        future = getattr(self, "_future", None)
        if future is None:
            return self.columns(strings, numbers)
        self._future = None
        return future.result()

    def columns(self, strings: list[str], numbers: list[str]) -> dict[str, object] | None:
        """Role -> column for the roles named (``strings``: (codes int32 [b], distinct values);
        ``numbers``: float64 [b], NaN where missing), plus ``"lines"``; ``None`` when this block
        must go through the line reader. A role the header lacks reads as empty strings."""
        if line_reader_only(self.body):
            return None
        import pyarrow as pa

        names = [f"c{i}" for i in range(self.width)]
        have = {r: self.ix[r] for r in strings + numbers if self.ix[r] < self.width}
        types = {names[self.ix[r]]: pa.dictionary(pa.int32(), pa.string()) for r in strings}
        types.update({names[self.ix[r]]: pa.float64() for r in numbers})
        types = {k: v for k, v in types.items() if k in {names[i] for i in have.values()}}
        include = sorted(set(types), key=names.index)
        table = arrow_table(self.body, names, types, "\t", NULLS, include)
        if table is None:
            return None
        n = table.num_rows
        out: dict[str, object] = {"lines": np.arange(self.first, self.first + n, dtype=np.int64)}
        for role in strings:
            if role not in have:
                out[role] = (np.zeros(n, dtype=np.int32), [""])
                continue
            out[role] = dictionary_codes(table.column(names[have[role]]))
        for role in numbers:
            col = table.column(names[have[role]]) if role in have else None
            values = (
                np.full(n, np.nan) if col is None else col.to_numpy().astype(np.float64, copy=False)
            )
            if np.isinf(values).any():
                return None  # the line reader refuses it with its line
            out[role] = values
        return out


def arrow_table(
    body: bytes,
    names: list[str],
    types: dict[str, object],
    delimiter: str,
    nulls: list[str],
    include: list[str] | None = None,
):
    """pyarrow's CSV engine over the whole lines ``body``: no header, no quoting or escapes (the
    line readers split on the delimiter alone), every line a row, columns ``include`` (default
    all) of ``types``. ``None`` where pyarrow refuses the block (a field count, a cell that is
    not of its type, bytes that are not UTF-8)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    try:
        return pcsv.read_csv(
            io.BytesIO(body),
            read_options=pcsv.ReadOptions(
                column_names=names, use_threads=False, block_size=len(body) + 1
            ),
            parse_options=pcsv.ParseOptions(
                delimiter=delimiter, quote_char=False, escape_char=False, ignore_empty_lines=False
            ),
            convert_options=pcsv.ConvertOptions(
                include_columns=include or [],
                column_types=types,
                null_values=nulls,
                strings_can_be_null=False,
                check_utf8=True,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError):
        return None


def dictionary_codes(column) -> tuple[np.ndarray, list[str]]:
    """(int32 codes [b], distinct strings) of a dictionary-encoded (chunked) column."""
    seen: dict[str, int] = {}
    parts = []
    for chunk in column.chunks:
        local = chunk.dictionary.to_pylist()
        remap = np.fromiter((seen.setdefault(v, len(seen)) for v in local), np.int32, len(local))
        parts.append(remap[chunk.indices.to_numpy(zero_copy_only=False).astype(np.int64)])
    values = list(seen)
    codes = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)
    return codes.astype(np.int32, copy=False), values


def screen_blocks(
    path, roles: Roles, required: list[str], out: ScreenCollector
) -> Iterator[TextBlock]:
    """The data blocks of every source of ``path`` (a file, or each member of a zip), after
    each source's header line (whose ``required`` roles must be present)."""
    for label, opener in text_sources(path):
        out.source(label)
        head: Header | None = None
        for first, body in line_blocks(label, opener):
            if head is None:
                header = next(block_lines(label, first, body), None)
                if header is None:
                    continue  # only blank or comment lines so far
                head = Header.parse(label, *header, roles)
                head.need(*required)
                width = len(head.names)
                ix = {role: head.index.get(role, width) for role in roles}
                skip = header[0] - first + 1  # lines up to and including the header
                cut = 0
                for _ in range(skip):
                    cut = body.index(b"\n", cut) + 1
                first, body = header[0] + 1, body[cut:]
                if not body:
                    continue
            yield TextBlock(label, first, body, head, ix)


def read_ahead(
    blocks: Iterable[TextBlock], strings: list[str], numbers: list[str]
) -> Iterator[TextBlock]:
    """``blocks`` with the columns of the next one parsed in a thread while this one is used."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        held: TextBlock | None = None
        for block in blocks:
            block.prefetch(pool, strings, numbers)
            if held is not None:
                yield held
            held = block
        if held is not None:
            yield held
