"""Every input file is opened here, under one rule: input is bounded and checked before use.

* A regular file only: a device, FIFO or directory is one ``InputError`` before a byte is read
  (``/dev/zero`` never ends, a FIFO blocks forever), and before anything hashes it.
* No line longer than ``DCELLX_MAX_LINE_BYTES`` (default 1 MiB; the longest real line, a GO
  ``def:``, is ~2 KB): a 200 MB line of NULs is refused after 1 MiB, naming file and line, and is
  never held whole, decoded or quoted.
* A compressed stream (gzip, a zip member) expands to at most ``DCELLX_MAX_DECOMPRESSED_BYTES``
  (default 16 GiB, above any published screen) and at most ``DCELLX_MAX_EXPANSION`` times its
  compressed size (default 100: real text compresses 5-15x, a bomb of NULs or newlines ~1000x).

The limits are read from the environment on each open (``input_limits``), so a caller or a test
may lower them. Readers read through an ``InputStream`` (``open_input``, ``open_member``), whose
every byte has passed these checks.
"""

from __future__ import annotations

import gzip
import os
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from dcellx.errors import ConfigError, DcellxError, InputError


def describe_os_error(exc: OSError) -> str:
    """``strerror`` (``No space left on device``), or the text of an error that has none."""
    return exc.strerror or str(exc) or type(exc).__name__


MAX_LINE_BYTES = 1 << 20  # DCELLX_MAX_LINE_BYTES; the longest real line (a GO def:) is ~2 KB
MAX_DECOMPRESSED_BYTES = 16 << 30  # DCELLX_MAX_DECOMPRESSED_BYTES, per file or zip member
MAX_EXPANSION = 100  # DCELLX_MAX_EXPANSION: decompressed / compressed bytes
EXPANSION_FLOOR_BYTES = 1 << 20  # a tiny compressed file may always expand to this
_CHUNK = 1 << 20


@dataclass(frozen=True)
class InputLimits:
    """The limits every reader applies (``input_limits`` reads them from the environment)."""

    line_bytes: int = MAX_LINE_BYTES
    decompressed_bytes: int = MAX_DECOMPRESSED_BYTES
    expansion: int = MAX_EXPANSION

    def decompressed_budget(self, compressed: int) -> tuple[int, str]:
        """The most bytes a stream of ``compressed`` bytes may expand to, and the setting that
        sets it (for the message)."""
        by_ratio = max(EXPANSION_FLOOR_BYTES, self.expansion * max(compressed, 0))
        if by_ratio < self.decompressed_bytes:
            why = f"{self.expansion}x its {compressed} compressed bytes, DCELLX_MAX_EXPANSION"
            return by_ratio, why
        return self.decompressed_bytes, "DCELLX_MAX_DECOMPRESSED_BYTES"


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw[:40]!r}: not a whole number of bytes") from None
    if value < 1:
        raise ConfigError(f"{name}={value}: must be at least 1")
    return value


def input_limits() -> InputLimits:
    """The limits of this process: ``DCELLX_MAX_LINE_BYTES``, ``DCELLX_MAX_DECOMPRESSED_BYTES``,
    ``DCELLX_MAX_EXPANSION`` (read on each open, so a test or a caller may lower them)."""
    return InputLimits(
        _env_int("DCELLX_MAX_LINE_BYTES", MAX_LINE_BYTES),
        _env_int("DCELLX_MAX_DECOMPRESSED_BYTES", MAX_DECOMPRESSED_BYTES),
        _env_int("DCELLX_MAX_EXPANSION", MAX_EXPANSION),
    )


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(path: str | Path, mode: int) -> InputError:
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    return InputError(path, None, f"not a regular file ({kind}): give a file")


def _open_error(path: str | Path, exc: OSError) -> InputError:
    if isinstance(exc, FileNotFoundError):
        return InputError(path, None, "cannot read (file not found)")
    return InputError(path, None, f"cannot read ({describe_os_error(exc)})")


def regular_stat(path: str | Path) -> os.stat_result:
    """``os.stat(path)`` of a regular file (through symlinks); else one ``InputError`` naming
    what it is. For inputs handed to another library (``zipfile``, ``torch.load``) or hashed."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise _open_error(path, exc) from None
    if not stat.S_ISREG(st.st_mode):
        raise _not_regular(path, st.st_mode)
    return st


def require_regular(path: str | Path) -> Path:
    """``path``, checked by ``regular_stat``."""
    regular_stat(path)
    return Path(path)


class _LineGuard:
    """Refuses a line longer than ``limit`` bytes (newline excluded) in the bytes fed to it, in
    order; O(size / limit) scans per chunk, whatever the number of lines."""

    def __init__(self, label: str, limit: int) -> None:
        self.label, self.limit = label, limit
        self.lines = 0  # newlines seen before the current chunk
        self.carry = 0  # bytes of the current (unfinished) line

    def feed(self, chunk: bytes) -> None:
        pos, n = 0, len(chunk)
        while pos < n:
            room = self.limit - self.carry  # bytes this line may still take
            if n - pos <= room:  # the rest of the chunk fits whatever it holds
                nl = chunk.rfind(b"\n", pos)
                self.carry = self.carry + n - pos if nl < 0 else n - nl - 1
                break
            nl = chunk.rfind(b"\n", pos, pos + room + 1)
            if nl < 0:
                line = self.lines + chunk.count(b"\n", 0, pos) + 1
                raise InputError(
                    self.label,
                    line,
                    f"line longer than {self.limit} bytes (DCELLX_MAX_LINE_BYTES): not a text "
                    "file of this kind, or raise the limit",
                )
            pos, self.carry = nl + 1, 0
        self.lines += chunk.count(b"\n")


class InputStream:
    """A binary input read under ``InputLimits``: every byte returned has passed the line-length
    check, and a decompressed stream stops at its budget with one ``InputError``. ``read``,
    ``readline`` and iteration (bounded lines) as a binary file has them."""

    def __init__(
        self,
        raw: IO[bytes],
        label: str,
        compressed: int | None = None,
        limits: InputLimits | None = None,
        owner: IO[bytes] | None = None,
    ) -> None:
        self.raw, self.label, self._owner = raw, label, owner
        self.limits = limits or input_limits()
        self.budget: tuple[int, str] | None = None
        if compressed is not None:
            self.budget = self.limits.decompressed_budget(compressed)
        self.count = 0
        self._guard = _LineGuard(label, self.limits.line_bytes)

    def _take(self, data: bytes) -> bytes:
        self.count += len(data)
        if self.budget is not None and self.count > self.budget[0]:
            limit, why = self.budget
            raise InputError(
                self.label, None, f"decompresses to more than {limit} bytes ({why}): refusing it"
            )
        self._guard.feed(data)
        return data

    def _call(self, read: Callable[[int], bytes], n: int) -> bytes:
        try:
            return read(n)
        except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
            if isinstance(exc, DcellxError):
                raise
            problem = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise InputError(self.label, None, f"cannot read ({problem})") from exc

    def read(self, n: int = -1) -> bytes:
        if n is not None and n >= 0:
            return self._take(self._call(self.raw.read, n))
        parts = []
        while chunk := self._take(self._call(self.raw.read, _CHUNK)):
            parts.append(chunk)
        return b"".join(parts)

    def readline(self, size: int = -1) -> bytes:
        """One line, at most ``line_bytes + 1`` bytes read: a longer one is refused."""
        cap = self.limits.line_bytes + 1
        return self._take(self._call(self.raw.readline, cap if size < 0 else min(size, cap)))

    def __iter__(self) -> Iterator[bytes]:
        while line := self.readline():
            yield line

    def close(self) -> None:
        try:
            self.raw.close()
        finally:
            if self._owner is not None:
                self._owner.close()

    def __enter__(self) -> InputStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_input(path: str | Path, label: str | None = None) -> InputStream:
    """``path`` (plain, or gunzipped when it starts with the gzip magic, whatever its name) as
    an ``InputStream``. The file is opened without blocking and checked on its descriptor, so a
    FIFO, device or directory is refused before anything is read from it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        raise _open_error(path, exc) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(path, st.st_mode)
        os.set_blocking(fd, True)
        fh = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    label = str(path) if label is None else label
    try:
        gz = fh.peek(2)[:2] == b"\x1f\x8b"
    except OSError as exc:
        fh.close()
        raise _open_error(path, exc) from None
    if gz:
        return InputStream(gzip.GzipFile(fileobj=fh, mode="rb"), label, st.st_size, owner=fh)
    return InputStream(fh, label)


def open_member(archive: zipfile.ZipFile, name: str, label: str) -> InputStream:
    """A zip member as an ``InputStream`` (its budget from the member's compressed size)."""
    info = archive.getinfo(name)
    return InputStream(archive.open(info), label, info.compress_size)


def read_maybe_gzip(path: Path) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic (whatever its name), read
    under the input limits (``open_input``)."""
    with open_input(path) as fh:
        return fh.read()


def decode_utf8(path: str | Path | None, raw: bytes, first_line: int = 1) -> str:
    """``raw`` as UTF-8 (a leading byte-order mark dropped), or one ``InputError`` naming the
    line of the first byte that is not UTF-8. ``first_line``: the line number of ``raw``'s start."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + first_line
        raise InputError(path, line, f"not UTF-8 (byte 0x{raw[exc.start]:02x})") from exc
    return text[1:] if text.startswith("\ufeff") else text


def read_text(path: str | Path) -> str:
    """A text file (plain or gzip) as UTF-8; see ``decode_utf8``."""
    return decode_utf8(path, read_maybe_gzip(Path(path)))
