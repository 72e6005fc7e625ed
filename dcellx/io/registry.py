"""Where a registered data file is found, and fetching it by name.

The lookup order is the same everywhere: the user cache, then an offline mirror, then a copy
shipped inside the package (``dcellx/io/embedded/``: the small files the main job needs, the same
pinned bytes), then the upstream URL (``dcellx.io.download``). The entries themselves are
``dcellx.io.entries``; this module is the one importers use, so it also names the entry type, the
hash function and the errors of a bad file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dcellx.errors import DataFileMissing, DcellxError
from dcellx.io.download import (
    ChecksumMismatch,
    DownloadFailed,
    DownloadRefused,
    check_record,
    download,
    read_record,
    record_path,
    sha256_file,
    verify_pinned,
)
from dcellx.io.entries import REGISTRY, DataFile

__all__ = [
    "REGISTRY",
    "CacheCheck",
    "ChecksumMismatch",
    "DataFile",
    "DownloadRefused",
    "cache_dir",
    "download_records",
    "fetch",
    "fetch_noted",
    "locate",
    "mirror_dir",
    "presence",
    "read_record",
    "source_of",
    "record_path",
    "resolve",
    "sha256_file",
    "stale_temp_folders",
    "verify_entries",
]


def cache_dir() -> Path:
    """Per-user download cache: ``$DCELLX_CACHE``, else ``~/.cache/dcellx``."""
    env = os.environ.get("DCELLX_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "dcellx"


def mirror_dir() -> Path | None:
    """Read-only offline copy laid out like the cache (``$DCELLX_MIRROR``), or None if unset."""
    env = os.environ.get("DCELLX_MIRROR")
    return Path(env).expanduser() if env else None


def _entry(name: str) -> DataFile:
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise DataFileMissing(f"unknown data file {name!r}; registered names: {known}") from None


# Copies of small registered files that ship with the package (``DataFile.embedded``).
EMBEDDED_DIR = Path(__file__).resolve().parent / "embedded"


def _candidates(entry: DataFile) -> list[tuple[str, Path]]:
    places = [("cache", cache_dir() / entry.path)]
    mirror = mirror_dir()
    if mirror is not None:
        places.append(("mirror", mirror / entry.path))
    if entry.embedded is not None:
        places.append(("embedded", EMBEDDED_DIR / entry.embedded))
    return places


def presence(name: str) -> str:
    """Where a file is present: ``cache``, ``mirror``, ``embedded`` (shipped with the package) or
    ``missing`` (existence only, no hash)."""
    for where, path in _candidates(_entry(name)):
        if path.is_file():
            return where
    return "missing"


def locate(name: str) -> Path | None:
    """The verified local copy of a registered file (cache, mirror, shipped copy), or None."""
    entry = _entry(name)
    for where, path in _candidates(entry):
        if path.is_file():
            if entry.sha256 is None and where == "cache":
                return check_record(entry, path)
            return verify_pinned(entry, path)
    return None


def _offline() -> bool:
    return os.environ.get("DCELLX_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


def source_of(name: str) -> str | None:
    """Where ``fetch(name)`` would take the file from, decided without hashing or network:
    ``cache``, ``mirror``, ``embedded``, ``download`` (an upstream, and downloads allowed), the
    offline fallback's source for an unpinned file, or None when it cannot be had here."""
    entry = _entry(name)
    where = presence(name)
    if where != "missing":
        return where
    if entry.url is not None and not _offline():
        return "download"
    return source_of(entry.offline_fallback) if entry.offline_fallback else None


def _missing_message(entry: DataFile, why_not_downloaded: str) -> str:
    looked = [f"cache {cache_dir() / entry.path}"]
    mirror = mirror_dir()
    looked.append(f"mirror {mirror / entry.path}" if mirror else "mirror: DCELLX_MIRROR not set")
    how = f"set DCELLX_MIRROR to a directory holding {entry.path}"
    if entry.url:
        how += f", or run `dcellx data fetch {entry.name}` with internet access"
    return (
        f"data file {entry.name!r} not found; looked in {'; '.join(looked)}; "
        f"{why_not_downloaded}. To provide it, {how}"
    )


def fetch(name: str, *, allow_download: bool = True) -> Path:
    """A verified local copy of ``name``, downloading it into the cache if needed and allowed."""
    return fetch_noted(name, allow_download=allow_download)[0]


def fetch_noted(name: str, *, allow_download: bool = True) -> tuple[Path, str | None]:
    """``fetch``, plus a note when the entry's ``offline_fallback`` was used instead of it."""
    try:
        return _fetch(name, allow_download=allow_download), None
    except DataFileMissing as exc:
        fallback = _entry(name).offline_fallback
        if fallback is None:
            raise
        found = locate(fallback)
        if found is None:
            raise
        note = f"{name} unavailable ({getattr(exc, 'why', exc)}); using {fallback}"
        return found, note


def _fetch(name: str, *, allow_download: bool = True) -> Path:
    entry = _entry(name)
    found = locate(name)
    if found is not None:
        return found
    if entry.url is None:
        why = f"no upstream URL is registered ({entry.no_upstream or 'none known'})"
    elif not allow_download:
        why = "download not allowed"
    elif _offline():
        why = "download skipped because DCELLX_OFFLINE is set"
    else:
        try:
            return download(entry, cache_dir() / entry.path)
        except DownloadFailed as exc:
            why = exc.why
    missing = DataFileMissing(_missing_message(entry, why))
    missing.why = why  # type: ignore[attr-defined]
    raise missing


def resolve(name_or_path: str | Path) -> Path:
    """A registered name (a ``str``) becomes its fetched file; anything else must be a path.

    Names win over same-named files in the working directory so that an experiment config
    means the same data everywhere; pass a ``Path`` (or ``./name``) to force a path.
    """
    if isinstance(name_or_path, str) and name_or_path in REGISTRY:
        return fetch(name_or_path)
    from dcellx.io.inputs import require_regular

    path = Path(name_or_path).expanduser()
    if path.exists():
        return require_regular(path)  # a device, FIFO or directory: one line, before any hashing
    raise DataFileMissing(
        f"{str(name_or_path)!r} is neither a registered data file nor an existing path "
        f"(registered: {', '.join(sorted(REGISTRY))}; see `dcellx data list`)"
    )


def download_records(names: Iterable[str]) -> list[dict[str, Any]]:
    """For ``env.json``: where each unpinned registered file among ``names`` came from -- its
    download record (cache), or path, size and sha256 (a mirror copy, or a cache copy without a
    record). Other names (paths, pinned files, missing ones) are left out."""
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for name in names:
        if name in seen or name not in REGISTRY or REGISTRY[name].sha256 is not None:
            continue
        seen.add(name)
        for where, path in _candidates(REGISTRY[name]):
            if not path.is_file():
                continue
            try:
                rec = read_record(path) if where == "cache" else None
                if rec is None:
                    rec = {
                        "name": name,
                        "sha256": sha256_file(path),
                        "size": path.stat().st_size,
                        "recorded": False,
                    }
            except (OSError, DcellxError) as exc:
                rec = {"name": name, "error": str(exc)}
            out.append({**rec, "path": str(path), "source": where})
            break
    return out


@dataclass
class CacheCheck:
    """One line of ``dcellx data verify``: ``status`` is ok, unrecorded, orphan or failed."""

    path: Path
    status: str
    detail: str


def verify_entries() -> list[CacheCheck]:
    """Re-check every registered file in the cache: pinned files against their sha256, unpinned
    downloads against their record; report records whose file is gone and cached unpinned files
    without a record. (``dcellx.ontology.cache.verify_cache`` adds compiled ontologies.)"""
    root = cache_dir()
    checks: list[CacheCheck] = []
    for entry in REGISTRY.values():
        path = root / entry.path
        if not path.is_file():
            if record_path(path).is_file():
                checks.append(CacheCheck(record_path(path), "orphan", "record without its file"))
            continue
        try:
            if entry.sha256 is not None:
                verify_pinned(entry, path)
                detail = f"sha256 {entry.sha256[:12]} (pinned)"
                checks.append(CacheCheck(path, "ok", detail))
            elif (rec := read_record(path)) is None:
                checks.append(CacheCheck(path, "unrecorded", "unpinned, no download record"))
            else:
                check_record(entry, path)
                detail = f"sha256 {rec['sha256'][:12]}, {rec['url']}, {rec.get('downloaded')}"
                checks.append(CacheCheck(path, "ok", detail))
        except (OSError, DcellxError) as exc:
            checks.append(CacheCheck(path, "failed", str(exc)))
    return checks


def stale_temp_folders() -> set[Path]:
    """The cache folders of registered files, where an interrupted write may leave a temp file."""
    return {cache_dir() / Path(e.path).parent for e in REGISTRY.values()}
