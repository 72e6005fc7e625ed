"""A cache of parsed screens, so a 10^7-row screen is read and merged once per set of options.

Entries live in ``$DCELLX_CACHE/screens/`` (``dcellx.io.registry.cache_dir``), one ``.npz`` per
(file content, reader options): the name is ``<file sha256[:16]>-<options sha256[:16]>.npz``, so a
changed file or other options is another entry and an entry never goes stale. A file's sha256 is
computed once and remembered by (resolved path, size, mtime) in ``screens/index.json``.

An entry holds only plain arrays (``np.load(allow_pickle=False)``): the columnar store itself
(``dcellx.data.store``): the gene vocabulary (``gene_vocab``), the int32 [n, k_max] codes
(``gene_codes``, -1 padded), ``values``, ``counts``, ``phenotypes``, each meta column's codes and
levels, and the reader's ``ScreenStats`` as JSON. Loading one gives a dataset identical to the
parse: the same gene tuples in the same order, the same float64 bits, counts and meta (dtype too).

Entries and the index are written with ``dcellx.fileio.atomic_write``. A cache that cannot be
written is a warning (the parsed dataset is returned); an entry that cannot be read back
(truncated, foreign, an older layout) is a warning, and the screen is parsed and the entry
rewritten.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dcellx.data.genotypes import GenotypeDataset
from dcellx.data.sga import ScreenStats, skip_warning
from dcellx.errors import warn
from dcellx.fileio import atomic_write
from dcellx.io import registry

# Bump when the entry layout or what a reader returns for the same options changes.
CACHE_VERSION = 2
INDEX = "index.json"


def cache_root() -> Path:
    return registry.cache_dir() / "screens"


def _read_index(root: Path) -> dict[str, dict]:
    try:
        data = json.loads((root / INDEX).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def file_sha256(path: Path, root: Path | None = None) -> str:
    """``path``'s sha256, from the index when its size and mtime are the recorded ones. A sha
    computed here is not recorded: ``remember_sha256`` does that once the file has been read
    (a refused file leaves no index entry)."""
    root = cache_root() if root is None else root
    st = os.stat(path)
    seen = _read_index(root).get(str(Path(path).resolve()))
    if (
        isinstance(seen, dict)
        and seen.get("size") == st.st_size
        and seen.get("mtime_ns") == st.st_mtime_ns
        and isinstance(seen.get("sha256"), str)
    ):
        return seen["sha256"]
    return registry.sha256_file(Path(path))


def remember_sha256(path: Path, sha: str, root: Path | None = None) -> None:
    """Record ``path``'s sha256 under its size and mtime in the index (a memo: a cache that
    cannot be written is said by the entry write)."""
    root = cache_root() if root is None else root
    try:
        st = os.stat(path)
    except OSError:
        return
    key = str(Path(path).resolve())
    index = _read_index(root)
    record = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha}
    if index.get(key) == record:
        return
    index[key] = record
    try:
        atomic_write(root / INDEX, json.dumps(index, indent=1, sort_keys=True) + "\n")
    except OSError:
        pass


def options_digest(fmt: str, phenotype: str, duplicates: str, filters: dict[str, object]) -> str:
    """sha256 of the reader options, normalised as the readers do (set filters sorted)."""
    norm: dict[str, object] = {}
    for name, value in sorted(filters.items()):
        if value is None:
            continue
        if isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
            norm[name] = value if isinstance(value, bool | str) else float(value)  # type: ignore[arg-type]
        else:
            norm[name] = sorted({str(v).strip().casefold() for v in value})
    spec = {
        "version": CACHE_VERSION,
        "format": fmt,
        "phenotype": phenotype,
        "duplicates": duplicates,
        "filters": norm,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def entry_path(file_sha: str, options: str, root: Path | None = None) -> Path:
    return (cache_root() if root is None else root) / f"{file_sha[:16]}-{options[:16]}.npz"


# -- encoding ---------------------------------------------------------------------------------
def encode(ds: GenotypeDataset, stats: ScreenStats) -> dict[str, np.ndarray]:
    """The arrays of one entry (see the module docstring)."""
    arrays = {
        "version": np.array(CACHE_VERSION, dtype=np.int64),
        "phenotypes": np.array(ds.phenotypes, dtype=str),
        "gene_vocab": np.array(ds.vocab, dtype=str),
        "gene_codes": ds.codes,
        "values": ds.values,
        "counts": ds.counts,
        "stats": np.array(json.dumps(stats.to_dict())),
    }
    meta = ds.meta_codes or {}
    arrays["meta_keys"] = np.array(list(meta), dtype=str)
    for i, (codes, levels) in enumerate(meta.values()):
        arrays[f"meta_codes_{i}"], arrays[f"meta_vocab_{i}"] = codes, levels
    return arrays


class _Corrupt(Exception):
    pass


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise _Corrupt(what)


def decode(arrays: dict[str, np.ndarray], source: str) -> tuple[GenotypeDataset, ScreenStats]:
    """The dataset and stats of an entry's arrays; ``_Corrupt`` when they do not fit together."""
    _check(int(arrays["version"]) == CACHE_VERSION, "another cache version")
    vocab, codes = arrays["gene_vocab"], arrays["gene_codes"]
    _check(codes.dtype == np.int32 and codes.ndim == 2 and len(codes) >= 1, "gene codes")
    _check(bool((codes < len(vocab)).all() and (codes >= -1).all()), "gene codes")
    present = codes >= 0
    _check(bool(present[:, 0].all()), "empty gene set")
    # pads only at the end of a row
    _check(bool((present[:, :-1] | ~present[:, 1:]).all()), "gene codes")
    n = len(codes)
    phenotypes = arrays["phenotypes"].tolist()
    values, counts = arrays["values"], arrays["counts"]
    _check(values.dtype == np.float64 and values.shape == (n, len(phenotypes)), "values")
    _check(counts.dtype == np.int64 and counts.shape == (n,), "counts")
    meta: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for i, key in enumerate(arrays["meta_keys"].tolist()):
        mvocab, mcodes = arrays[f"meta_vocab_{i}"], arrays[f"meta_codes_{i}"]
        _check(mcodes.shape == (n,), f"meta {key}")
        _check(n == 0 or int(mcodes.max()) < len(mvocab), f"meta {key}")
        meta[key] = (mcodes, mvocab)
    stats = ScreenStats()
    stats.update(json.loads(str(arrays["stats"])))
    stats.cached = True
    ds = GenotypeDataset(
        None,
        values,
        phenotypes,
        source,
        counts,
        codes=codes,
        vocab=vocab.tolist(),
        meta_codes=meta or None,
    )
    return ds, stats


def _load(path: Path, source: str) -> tuple[GenotypeDataset, ScreenStats] | None:
    """The entry at ``path``; None if there is none; a warning and None if it is unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        return decode(arrays, source)
    except (_Corrupt, OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as e:
        warn(f"{path}: unreadable screen cache entry ({e or type(e).__name__}); re-reading")
        return None


def _save(path: Path, ds: GenotypeDataset, stats: ScreenStats) -> None:
    arrays = encode(ds, stats)
    try:
        atomic_write(path, lambda fh: np.savez(fh, **arrays))
    except OSError as exc:  # FileWriteError names the path and the reason
        warn(f"screen cache not written: {exc}")


def cached_read(
    path: Path,
    fmt: str,
    phenotype: str,
    duplicates: str,
    filters: dict[str, object],
    read: Callable[[ScreenStats], GenotypeDataset],
    stats: ScreenStats | None = None,
) -> GenotypeDataset:
    """``read(stats)`` of the screen at ``path``, or its cached result for the same file
    content and options. ``stats`` (if given) is filled either way (``stats.cached`` tells)."""
    root = cache_root()
    source = str(path)
    try:
        sha = file_sha256(path, root)
    except OSError:
        return read(stats if stats is not None else ScreenStats())  # the reader names the problem
    entry = entry_path(sha, options_digest(fmt, phenotype, duplicates, filters), root)
    hit = _load(entry, source)
    if hit is not None:
        remember_sha256(path, sha, root)
        ds, seen = hit
        skip_warning(source, seen.skipped, stacklevel=3)
        if seen.conflicts is not None:  # as the parse warned
            warn(f"{source}: {seen.conflicts}")
        if stats is not None:
            stats.update(seen.to_dict())
            stats.cached = True
        return ds
    fresh = stats if stats is not None else ScreenStats()
    ds = read(fresh)  # a refused file raises here: neither an entry nor an index record
    _save(entry, ds, fresh)
    remember_sha256(path, sha, root)
    return ds
