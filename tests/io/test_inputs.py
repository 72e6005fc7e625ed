"""The one rule every reader reads under (``dcellx.io.inputs``): a regular file only, no line
over ``DCELLX_MAX_LINE_BYTES``, a compressed stream bounded by ``DCELLX_MAX_DECOMPRESSED_BYTES``
and ``DCELLX_MAX_EXPANSION``. Bombs are generated here, small, over lowered limits."""

from __future__ import annotations

import gzip
import io
import os
import zipfile
from pathlib import Path

import pytest

from dcellx.errors import ConfigError, InputError
from dcellx.io.inputs import InputStream, input_limits, open_input, open_member, read_maybe_gzip


def stream(data: bytes, line_bytes: int, monkeypatch: pytest.MonkeyPatch) -> InputStream:
    monkeypatch.setenv("DCELLX_MAX_LINE_BYTES", str(line_bytes))
    return InputStream(io.BytesIO(data), "mem")


@pytest.mark.parametrize("chunk", [1, 3, 7, 1 << 20])
def test_a_line_of_the_limit_passes_one_byte_more_is_refused_at_its_line(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exactly the limit (newline excluded) passes, whatever the read sizes; one byte more is
    refused with the line's number, also when the line spans reads."""
    ok = b"a\n" + b"x" * 10 + b"\n" + b"y" * 10
    fh = stream(ok, 10, monkeypatch)
    assert b"".join(iter(lambda: fh.read(chunk), b"")) == ok
    bad = b"a\nb\n" + b"x" * 11 + b"\nc\n"
    fh = stream(bad, 10, monkeypatch)
    with pytest.raises(InputError, match=r"^mem:3: line longer than 10 bytes"):
        while fh.read(chunk):
            pass


def test_bounded_lines_are_never_read_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Iterating reads at most limit + 1 bytes of a line before refusing it."""
    fh = stream(b"ok\n" + b"\0" * (10 << 20), 4096, monkeypatch)
    lines = iter(fh)
    assert next(lines) == b"ok\n"
    with pytest.raises(InputError, match=r"^mem:2: line longer than 4096 bytes"):
        next(lines)
    assert fh.count <= 3 + 4097


def test_a_gzip_stops_at_the_decompressed_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.txt.gz"
    path.write_bytes(gzip.compress(b"2 YLR035C YML060W 0.0447\n" * 40_000))  # ~1 MB of lines
    assert len(read_maybe_gzip(path)) == 25 * 40_000  # under the defaults
    monkeypatch.setenv("DCELLX_MAX_DECOMPRESSED_BYTES", "100000")
    with pytest.raises(InputError) as err:
        read_maybe_gzip(path)
    assert str(err.value) == (
        f"{path}: decompresses to more than 100000 bytes (DCELLX_MAX_DECOMPRESSED_BYTES): "
        "refusing it"
    )


def test_a_zip_member_that_expands_like_a_bomb_is_refused(tmp_path: Path) -> None:
    """4 MiB of newlines deflate to ~4 kB (1000x): over DCELLX_MAX_EXPANSION's 100x (and its
    1 MiB floor) with the default limits; every line is blank, so no line limit stops it."""
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("SGA_ExE.txt", b"\n" * (4 << 20))
    with zipfile.ZipFile(path) as zf, open_member(zf, "SGA_ExE.txt", "bomb") as fh:
        with pytest.raises(InputError, match=r"^bomb: decompresses to more than 1048576 bytes \("):
            while fh.read(1 << 16):
                pass
        assert fh.count <= (1 << 20) + (1 << 16)


@pytest.mark.parametrize("kind", ["directory", "fifo", "device"])
def test_only_a_regular_file_is_opened(kind: str, tmp_path: Path) -> None:
    path = {"directory": tmp_path, "device": Path("/dev/zero")}.get(kind, tmp_path / "fifo")
    if kind == "fifo":
        os.mkfifo(path)  # opened without a writer: open_input must not block
    with pytest.raises(InputError, match=r"not a regular file \((a|an) "):
        open_input(path)


def test_a_limit_that_is_not_a_number_is_one_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DCELLX_MAX_LINE_BYTES", "1M")
    with pytest.raises(ConfigError, match="DCELLX_MAX_LINE_BYTES='1M': not a whole number"):
        input_limits()
