"""File helpers shared by every reader and writer.

Reading (``dcellx.io.inputs``, re-exported here): every input is opened under one set of
limits; ``read_text`` decodes UTF-8 strictly, a byte that is not UTF-8 is one ``InputError``
naming ``file:line`` (a replaced byte would silently invent a gene or term name).

Writing: ``atomic_write`` is the one writer of every file dcellx produces (run files, checkpoints,
exports, simulated data, the ontology cache, downloads, reports). It writes a hidden temp file
next to the target (``.<name>.<hex>.<pid>@<host>.tmp``) and renames it over the target, so a
reader never sees a half-written file and a failed write leaves the previous file untouched. The
temp file is created with mode 0666 and the kernel applies the umask, so every file gets the
permissions the user asked for. A temp file whose writer died (``kill -9``) is removed by the
next write into the same directory, never one whose writer is alive. An operating-system error
(read-only file system, full disk, file-size limit, a path under a regular file) is one
``FileWriteError`` naming the path and the problem.
"""

from __future__ import annotations

import csv
import io
import os
import re
import secrets
import socket
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from dcellx.errors import DcellxError
from dcellx.io.inputs import (  # noqa: F401 -- the readers' helpers, long imported from here
    decode_utf8,
    describe_os_error,
    open_input,
    read_maybe_gzip,
    read_text,
    require_regular,
)

# A temp file of a writer that cannot be identified (written by an older dcellx) is stale after
# this long: no single write takes an hour, and a live writer of older code must not lose its file.
LEGACY_TEMP_AGE_S = 3600.0
# A temp file of a writer on another host (a shared file system) is stale after this long.
FOREIGN_TEMP_AGE_S = 24 * 3600.0

_TEMP = re.compile(r"^\..+\.[0-9a-f]{8}\.(?P<pid>\d+)@(?P<host>[^/@]+)\.tmp$")
# Temp files of the writers dcellx had before this one: ``.<name>.<random>.tmp`` (run files),
# ``.<name>.<random>.part`` (downloads), ``<name><random>.tmp`` (the ontology cache).
_LEGACY_TEMP = re.compile(r"^(\..+\.[A-Za-z0-9_]{8}\.(tmp|part)|.+\.npz[A-Za-z0-9_]{8}\.tmp)$")


class FileWriteError(DcellxError, OSError):
    """A file could not be written: names the path and the operating system's reason."""


def os_error_line(exc: OSError) -> str:
    """One line for an ``OSError`` that reached the user: the path(s), then the problem."""
    if isinstance(exc, DcellxError):
        return str(exc)
    where = exc.filename if exc.filename is not None else None
    if where is not None and exc.filename2 is not None:
        where = f"{where} -> {exc.filename2}"
    problem = describe_os_error(exc)
    return f"{where}: {problem}" if where is not None else problem


# -- writing ----------------------------------------------------------------------------------
def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname()) or "host"


def temp_path(path: Path) -> Path:
    """A fresh hidden temp name next to ``path`` that records the writer (pid, host)."""
    stem = path.name[:120]
    return path.with_name(f".{stem}.{secrets.token_hex(4)}.{os.getpid()}@{_host()}.tmp")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def is_stale_temp(path: Path, now: float | None = None) -> bool:
    """Whether ``path`` is a temp file left by a writer that is gone (see the module docstring)."""
    m = _TEMP.match(path.name)
    try:
        age = (time.time() if now is None else now) - path.lstat().st_mtime
    except OSError:
        return False
    if m is None:
        return _LEGACY_TEMP.match(path.name) is not None and age > LEGACY_TEMP_AGE_S
    if m["host"] != _host():
        return age > FOREIGN_TEMP_AGE_S
    pid = int(m["pid"])
    return pid != os.getpid() and not _pid_alive(pid)


def remove_stale_temps(directory: str | Path, *, every: bool = False) -> list[Path]:
    """Remove the temp files of dead writers in ``directory`` (``every``: all temp files, for a
    caller that holds the directory's lock). Returns what was removed; errors are ignored (a
    directory that cannot be written holds nothing of ours to clean)."""
    removed = []
    try:
        entries = list(Path(directory).iterdir())
    except OSError:
        return removed
    for p in entries:
        if not (_TEMP.match(p.name) or _LEGACY_TEMP.match(p.name)):
            continue
        if every or is_stale_temp(p):
            try:
                p.unlink()
                removed.append(p)
            except OSError:
                pass
    return removed


Writer = Callable[[IO[bytes]], None]


def _write_through(path: Path, data: bytes | Writer) -> None:
    """A device or pipe (``/dev/stdout``, ``/dev/full``): write into it, there is nothing to
    rename over."""
    try:
        with open(path, "wb") as fh:
            if callable(data):
                data(fh)
            else:
                fh.write(data)
    except OSError as exc:
        raise FileWriteError(f"{path}: cannot write ({describe_os_error(exc)})") from exc


def discard(path: Path) -> None:
    """Remove ``path`` if it is there; a temp file that cannot be removed is left, not an error
    (the next start cleans hidden temp files)."""
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def atomic_write(
    path: str | Path,
    data: bytes | str | Writer,
    *,
    check: Callable[[Path], None] | None = None,
) -> None:
    """Write ``data`` (bytes, text as UTF-8, or a callable given the open binary file) to
    ``path`` atomically; ``check(temp)`` may refuse the complete temp file before the rename.

    An ``OSError`` (from the file system or raised by ``data``) becomes a ``FileWriteError``
    naming ``path``; the temp file is always removed when the write does not complete.
    """
    path = Path(path)
    payload: bytes | Writer = data.encode("utf-8") if isinstance(data, str) else data
    try:
        st = path.stat()
    except OSError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):
        _write_through(path, payload)
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FileWriteError(
            f"{path}: cannot create directory {path.parent} ({describe_os_error(exc)})"
        ) from exc
    remove_stale_temps(path.parent)
    tmp = temp_path(path)
    try:
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
            with os.fdopen(fd, "wb") as fh:
                if callable(payload):
                    payload(fh)
                else:
                    fh.write(payload)
            if check is not None:
                check(tmp)
            os.replace(tmp, path)
        except OSError as exc:
            if isinstance(exc, DcellxError):
                raise
            raise FileWriteError(f"{path}: cannot write ({describe_os_error(exc)})") from exc
    finally:
        discard(tmp)


def write_csv(
    path: str | Path, rows: list[dict], columns: list[str], lineterminator: str = "\n"
) -> None:
    """``rows`` as CSV with header ``columns`` (other keys ignored, None as empty), atomically."""
    buf = io.StringIO()
    w = csv.DictWriter(
        buf, fieldnames=columns, extrasaction="ignore", lineterminator=lineterminator
    )
    w.writeheader()
    for r in rows:
        w.writerow({c: ("" if r.get(c) is None else r[c]) for c in columns})
    atomic_write(path, buf.getvalue())


def atomic_write_text(path: str | Path, text: str) -> None:
    """``atomic_write`` of UTF-8 text."""
    atomic_write(path, text)


def check_writable(path: str | Path) -> None:
    """Fail early, before any work, when ``path`` cannot be written, leaving nothing behind: a
    temp file is made and removed in its directory (or, where that does not exist yet, in the
    nearest existing ancestor). A device or pipe is taken as writable."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError:
        st = None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise FileWriteError(f"{path}: cannot write (is a directory)")
    if st is not None and not stat.S_ISREG(st.st_mode):
        return
    where = path.parent
    while not where.exists() and where != where.parent:
        where = where.parent
    if not where.is_dir():
        raise FileWriteError(f"{path}: cannot write ({where} is not a directory)")
    probe = temp_path(where / path.name)
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        os.close(fd)
    except OSError as exc:
        raise FileWriteError(f"{path}: cannot write ({describe_os_error(exc)})") from exc
    finally:
        discard(probe)


class _RecordingWriter:
    """``fh`` for ``torch.save``, keeping the ``OSError`` of a failed write: torch's zip writer
    swallows it and raises ``RuntimeError("unexpected pos ...")``, which would hide the cause (a
    full disk, a file-size limit) behind a traceback."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh: IO[bytes] = fh
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            return self.fh.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.fh.flush()


def torch_save(obj: object, fh: IO[bytes]) -> None:
    """``torch.save(obj, fh)`` (inside ``atomic_write``): a write that failed part-way raises its
    own ``OSError``, so the user reads one line naming the file and the cause."""
    import torch  # here, not at the top: most commands never write a tensor file

    writer = _RecordingWriter(fh)
    try:
        torch.save(obj, writer)
    except RuntimeError:
        if writer.error is not None:
            raise writer.error from None  # atomic_write turns it into one line naming the file
        raise
