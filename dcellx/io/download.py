"""Getting and checking the bytes of a registered file: https download, sha256, download records.

Downloads are https only, with the system's CA store or the PEM bundle named by
``$DCELLX_CA_BUNDLE``; a redirect must stay on https and on the URL's host unless the entry lists
the other host (``redirect_hosts``). The bytes of a pinned file are checked against its sha256;
an unpinned download gets a record next to the cached file (``<file>.download.json``: URL, final
URL, sha256, size, date) that every later use and ``dcellx data verify`` check the file against,
and that each run's ``env.json`` copies.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import os
import shutil
import ssl
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

from dcellx.errors import ConfigError, DcellxError
from dcellx.fileio import FileWriteError, atomic_write, remove_stale_temps
from dcellx.io.entries import DataFile
from dcellx.io.inputs import open_input, regular_stat

# Seconds of socket inactivity before a download is abandoned; a dead network must fail fast.
DOWNLOAD_TIMEOUT_S = 30.0


class ChecksumMismatch(DcellxError):
    """A file's bytes differ from its pinned hash or its download record (corrupt, truncated or
    edited)."""


class DownloadRefused(DcellxError):
    """A download that would not be trustworthy: not https, a redirect to another host or to
    http, or a TLS certificate that does not verify."""


# Next to a cached unpinned download: what was downloaded, from where, when.
RECORD_SUFFIX = ".download.json"


# (path, size, mtime_ns) -> sha256, so that repeated lookups in one process hash a file once.
_HASH_MEMO: dict[tuple[str, int, int], str] = {}


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks so large files do not fill memory; a file
    unchanged since it was last hashed in this process (path, size, mtime) is not read again.
    A device, FIFO or directory is refused before it is read (``/dev/zero`` never ends)."""
    st = regular_stat(path)
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key in _HASH_MEMO:
        return _HASH_MEMO[key]
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    _HASH_MEMO[key] = digest.hexdigest()
    return _HASH_MEMO[key]


def sha256_gunzipped(path: Path) -> str:
    """Hex sha256 of a gzip file's uncompressed bytes, streamed through the bounded reader
    (``dcellx.io.inputs``: a bomb is one ``InputError``), memoised like ``sha256_file``; ``""``
    for a file that is not gzip (no uncompressed content to match)."""
    st = regular_stat(path)
    key = ("gunzip:" + str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASH_MEMO:
        digest = hashlib.sha256()
        with open_input(path) as fh:
            if fh.budget is None:  # read as it is: not gzip
                return ""
            while block := fh.read(1 << 20):
                digest.update(block)
        _HASH_MEMO[key] = digest.hexdigest()
    return _HASH_MEMO[key]


def verify_pinned(entry: DataFile, path: Path, label: str | None = None) -> Path:
    """Return ``path`` if its content matches the pinned hash (or nothing is pinned); a file
    gzipped here from an upstream member matches on its uncompressed bytes (``content_sha256``).

    ``label`` names the file in the error when ``path`` itself means nothing to the user
    (a temporary download).
    """
    if entry.sha256 is None:
        return path
    actual = sha256_file(path)
    if actual != entry.sha256 and not (
        entry.content_sha256 is not None and sha256_gunzipped(path) == entry.content_sha256
    ):
        raise ChecksumMismatch(
            f"{label or path}: checksum mismatch for data file {entry.name!r}: "
            f"expected sha256 {entry.sha256}, got {actual}"
        )
    return path


def record_path(path: Path) -> Path:
    """Where the download record of the cached file ``path`` lives."""
    return path.with_name(path.name + RECORD_SUFFIX)


def read_record(path: Path) -> dict[str, Any] | None:
    """The download record next to ``path``, or None if there is none."""
    rec = record_path(path)
    try:
        data = json.loads(rec.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ChecksumMismatch(f"{rec}: unreadable download record ({exc})") from exc
    if not isinstance(data, dict) or not {"sha256", "size", "url"} <= set(data):
        raise ChecksumMismatch(f"{rec}: not a dcellx download record")
    return data


def check_record(entry: DataFile, path: Path) -> Path:
    """An unpinned cached file must still be the bytes its download record describes."""
    rec = read_record(path)
    if rec is None:
        return path
    size = path.stat().st_size
    actual = sha256_file(path) if size == rec["size"] else None
    if size != rec["size"] or actual != rec["sha256"]:
        got = f"{size} bytes" + (f", sha256 {actual}" if actual else "")
        raise ChecksumMismatch(
            f"{path}: changed since it was downloaded from {rec['url']} on {rec.get('downloaded')} "
            f"(data file {entry.name!r}): recorded {rec['size']} bytes, sha256 {rec['sha256']}; "
            f"now {got}; delete it and its {RECORD_SUFFIX} to download again"
        )
    return path


class DownloadFailed(Exception):
    """A download that did not happen (network error, unwritable cache); ``why`` says why, for
    the message of the ``DataFileMissing`` that follows."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class _Transfer(Exception):
    """A network error inside the download's writer (kept apart from file-system errors)."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(str(exc))
        self.exc = exc


def ssl_context() -> ssl.SSLContext:
    """Certificate-verifying TLS: the system's CA store, or ``$DCELLX_CA_BUNDLE`` (a PEM file)."""
    bundle = os.environ.get("DCELLX_CA_BUNDLE")
    if bundle and not Path(bundle).expanduser().is_file():
        raise ConfigError(f"DCELLX_CA_BUNDLE={bundle}: no such file (a PEM CA bundle)")
    return ssl.create_default_context(cafile=str(Path(bundle).expanduser()) if bundle else None)


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to https on the URL's own host or a host the entry allows."""

    def __init__(self, entry: DataFile) -> None:
        super().__init__()
        self.entry = entry
        self.allowed = {urlparse(entry.url or "").hostname, *entry.redirect_hosts}

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        new = urlparse(newurl)
        problem = None
        if new.scheme != "https":
            problem = "not https"
        elif new.hostname not in self.allowed:
            allowed = ", ".join(sorted(h for h in self.allowed if h))
            problem = f"host {new.hostname} is not allowed for this file (allowed: {allowed})"
        if problem:
            fp.close()
            raise DownloadRefused(
                f"download of {self.entry.name!r} refused: {req.full_url} redirects to {newurl}: "
                f"{problem}"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _download(entry: DataFile, dest: Path, pinned: str | None) -> Path:
    """Fetch ``entry.url`` (https only) to ``dest`` atomically; a reader never sees a partial or
    unverified file. ``pinned``: the sha256 the bytes must have; without one the file gets its
    download record first (see the module doc)."""
    assert entry.url is not None
    url = entry.url
    if urlparse(url).scheme != "https":
        raise DownloadRefused(f"download of {entry.name!r} refused: {url} is not an https:// URL")
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=ssl_context()), _Redirects(entry)
    )
    digest, got = hashlib.sha256(), {"size": 0, "final_url": url}

    def write(fh: IO[bytes]) -> None:
        try:
            resp = opener.open(url, timeout=DOWNLOAD_TIMEOUT_S)
        except DcellxError:
            raise
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            raise _Transfer(exc) from exc
        with resp:
            got["final_url"] = resp.geturl()
            while True:
                try:
                    block = resp.read(1 << 20)
                except (http.client.HTTPException, OSError, ValueError) as exc:
                    raise _Transfer(exc) from exc
                if not block:
                    break
                digest.update(block)
                got["size"] += len(block)
                fh.write(block)
            declared = resp.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) != got["size"]:
                # read(n) returns short at EOF without raising: a cut connection must not pass
                closed = ValueError(f"connection closed after {got['size']} of {declared} bytes")
                raise _Transfer(closed)

    def check(tmp: Path) -> None:
        actual = digest.hexdigest()
        if pinned is not None:
            if actual != pinned:
                raise ChecksumMismatch(
                    f"downloaded {url}: checksum mismatch for data file {entry.name!r}: "
                    f"expected sha256 {pinned}, got {actual}"
                )
            return
        record = {
            "name": entry.name,
            "url": url,
            "final_url": got["final_url"],
            "sha256": actual,
            "size": got["size"],
            "downloaded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        atomic_write(record_path(dest), json.dumps(record, indent=2) + "\n")

    remove_stale_temps(dest.parent)
    atomic_write(dest, write, check=check)
    return dest


def _download_member(entry: DataFile, dest: Path) -> Path:
    """The archive at ``entry.url`` (pinned by ``archive_sha256``) fetched into a temporary
    folder beside ``dest``, its ``member`` written to ``dest`` (gzipped with ``gzip_member``) and
    checked against the entry's pins before ``dest`` appears; the archive is removed."""
    assert entry.member is not None
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".archive-", dir=dest.parent) as tmp:
        archive = _download(entry, Path(tmp) / "archive.zip", entry.archive_sha256)

        def write(fh: IO[bytes]) -> None:
            try:
                with zipfile.ZipFile(archive) as zf, zf.open(entry.member or "") as src:
                    if entry.gzip_member:  # mtime 0: the same bytes on every machine
                        with gzip.GzipFile(fileobj=fh, mode="wb", mtime=0) as gz:
                            shutil.copyfileobj(src, gz, 1 << 20)
                    else:
                        shutil.copyfileobj(src, fh, 1 << 20)
            except (KeyError, zipfile.BadZipFile) as exc:
                raise ChecksumMismatch(
                    f"downloaded {entry.url}: no readable {entry.member} in it ({exc})"
                ) from None

        def check(tmp_dest: Path) -> None:
            verify_pinned(entry, tmp_dest, label=f"{entry.member} of {entry.url}")

        atomic_write(dest, write, check=check)
    return dest


def _transfer_reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    reason = getattr(exc, "reason", None) or exc
    return " ".join(str(reason).split())


def download(entry: DataFile, dest: Path) -> Path:
    """``entry.url`` fetched to ``dest`` and verified; ``DownloadFailed`` when the network or the
    cache fails, ``DownloadRefused`` when the TLS certificate does not verify."""
    assert entry.url is not None
    try:
        if entry.member is not None:
            return _download_member(entry, dest)
        return _download(entry, dest, entry.sha256)
    except _Transfer as t:
        reason = getattr(t.exc, "reason", None)
        if isinstance(reason, ssl.SSLCertVerificationError):
            host = urlparse(entry.url).hostname
            raise DownloadRefused(
                f"download of {entry.name!r} from {entry.url} refused: the TLS certificate "
                f"of {host} does not verify ({reason.verify_message}); behind a proxy that "
                "re-signs TLS, set DCELLX_CA_BUNDLE to its CA bundle (PEM)"
            ) from None
        raise DownloadFailed(
            f"download from {entry.url} failed ({_transfer_reason(t.exc)})"
        ) from None
    except FileWriteError as exc:
        raise DownloadFailed(f"the cache cannot be written ({exc})") from None
