"""Named data files: where each one lives, what its bytes must hash to, and how to get it.

Experiments refer to data by name (``go-2019-01-27``) rather than by path so that a run is
reproducible on any machine: the name pins the content (sha256) and the lookup order
(user cache, then an offline mirror, then the upstream URL) is the same everywhere.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from dcellx.errors import DataFileMissing, DcellxError

# Seconds of socket inactivity before a download is abandoned; a dead network must fail fast.
DOWNLOAD_TIMEOUT_S = 30.0

_DCELL = "https://raw.githubusercontent.com/idekerlab/DCell/110c8a7"


@dataclass(frozen=True)
class DataFile:
    """One registered file. ``path`` is relative to the cache and to the mirror alike."""

    name: str
    path: str
    sha256: str | None
    url: str | None
    description: str
    # A pinned registered file used when this (unpinned, online) one cannot be had: offline, no
    # mirror copy, download failed. The substitution is reported, never silent.
    offline_fallback: str | None = None


class ChecksumMismatch(DcellxError):
    """A pinned file's bytes differ from the registered hash (corrupt, truncated or edited)."""


def _entries() -> list[DataFile]:
    return [
        DataFile(
            "go-2019-01-27",
            "go/go-2019-01-27.obo.gz",
            "5dc107f7b813cd7f79569a32504856b909627b8667aca661e93a102751bbb555",
            None,
            "Full GO release 2019-01-27 (go.obo, not go-basic), gzipped. No URL: the release "
            "archive serves uncompressed go.obo, whose bytes cannot match this pinned gz hash.",
        ),
        DataFile(
            "sgd-2017-01-18",
            "annotations/sgd-2017-01-18.gaf.gz",
            "0e43e2f96271c27bcc551e12346424277e6b26ef008bda765827de85b8890bf8",
            None,
            "SGD yeast GO annotations, January 2017 snapshot (GAF 2.1). No URL: converted from "
            "GenBank third-party annotation records, not an upstream file.",
        ),
        DataFile(
            "gene2go-2018-10-26",
            "annotations/yeast-gene2go-2018-10-26.tsv.gz",
            "9a87ad889d2aecfd11484d749eb3452f703310d1670ee8fc3a2dff0b841b545f",
            None,
            "Direct yeast GO annotations from NCBI gene2go, 2018-10-26 (gene, term, "
            "evidence_class). No URL: derived (symbols mapped to ORFs).",
        ),
        DataFile(
            "go-basic-latest",
            "go/go-basic.obo",
            None,
            "https://purl.obolibrary.org/obo/go/go-basic.obo",
            "Current go-basic.obo; changes with every GO release, so not pinned. Offline: "
            "go-2024-09-08 (the full go.obo of that release, not go-basic).",
            offline_fallback="go-2024-09-08",
        ),
        DataFile(
            "sgd-latest",
            "annotations/sgd.gaf.gz",
            None,
            "https://current.geneontology.org/annotations/sgd.gaf.gz",
            "Current SGD GO annotations (GAF); changes with every GO release, so not pinned. "
            "Offline: sgd-2026-03-28.",
            offline_fallback="sgd-2026-03-28",
        ),
        DataFile(
            "go-2024-09-08",
            "go/go-2024-09-08.obo.gz",
            "67f98cab653557c9f22c5cb05bf09ca96c509b339d6fb8a26032df28a3136500",
            None,
            "Full GO release 2024-09-08 (go.obo, OBO 1.2, not go-basic), gzipped. No URL: the "
            "release archive serves uncompressed go.obo, whose bytes cannot match this gz hash.",
        ),
        DataFile(
            "sgd-2026-03-28",
            "annotations/sgd-2026-03-28.gaf.gz",
            "3bd3235b6693c4b3184e65b3f6199bb94321af6ceceeb3aacb87d0de69dfd2b1",
            None,
            "SGD yeast GO annotations as the GO Consortium published them on 2026-03-28 (GAF 2.2, "
            "real per-row dates in column 14). No URL: the current file changes every release.",
        ),
        DataFile(
            "dcell-dna-repair-topology",
            "dcell/GO_0006281_topology",
            "40a6c2e5cee8dc5b28914cbd5b6cb2eace1d74c186af049bf26eff209dcf490c",
            f"{_DCELL}/training/Topology/GO:0006281_topology",
            "DNA-repair (GO:0006281) sub-ontology in the original DCell topology format.",
        ),
        DataFile(
            "dcell-dna-repair-train",
            "dcell/GO_0006281_training_data_2016_0",
            "d8228e7ec11564ef77903b494f5ae35471796682bdbe9a79025616a3ade7278b",
            f"{_DCELL}/training/TrainData/GO:0006281_training_data_2016_0",
            "Costanzo 2016 DNA-repair double mutants, training split (8,783 genotypes).",
        ),
        DataFile(
            "dcell-dna-repair-test",
            "dcell/GO_0006281_testing_data_2016_0",
            "a66665a3e9460b2f0a1ea186937f480531753f96a82d827b3b62a821845268a2",
            f"{_DCELL}/training/TrainData/GO:0006281_testing_data_2016_0",
            "Costanzo 2016 DNA-repair double mutants, test split (2,868 genotypes).",
        ),
        DataFile(
            "yeast-symbols",
            "ids/yeast_clean4.txt",
            "d9120e4350d0e99413719ea1562835df9288f52e7eec23e899cb7fc8102f7181",
            f"{_DCELL}/data-builder/yeast_clean4.txt",
            "Yeast symbol / ORF / UniProt / SGD ID map (tab-separated, with header).",
        ),
        DataFile(
            "costanzo-2016-genes",
            "ids/costanzo_2016_genes.txt",
            "4935a8aa3b88429ac0f5aaff572f1ae1311238c88befeac0db3dc43ea71f9df0",
            f"{_DCELL}/data-builder/costanzo_2016_genes",
            "The 4,111 ORFs screened in Costanzo 2016, one per line.",
        ),
        DataFile(
            "costanzo-2016-sga-pairwise",
            "costanzo2016/sga-pairwise.zip",
            None,
            "https://thecellmap.org/costanzo2016/data_files/"
            "Raw%20genetic%20interaction%20datasets:%20Pair-wise%20interaction%20format.zip",
            "Costanzo 2016 Data File S1 (SGA_ExE, SGA_ExN_NxE, SGA_NxN, SGA_DAmP), zipped. "
            "Not mirrored; hash not yet pinned.",
        ),
        DataFile(
            "kuzmin-2018-trigenic",
            "kuzmin2018/aao1729_data_s1.tsv",
            "c82b60f98590071fcb07b74b672958a5863b58e03b78631e6235cb664ee82afb",
            "https://www.science.org/doi/suppl/10.1126/science.aao1729/suppl_file/"
            "aao1729_data_s1.tsv",
            "Kuzmin 2018 (Science) Data S1, raw digenic and trigenic interaction scores "
            "(the users' TmiKuzmin2018 source; sha256 as their code pins it). Not mirrored and "
            "the publisher's site may refuse scripted downloads: a user who has the file puts "
            "it in the cache at kuzmin2018/aao1729_data_s1.tsv ($DCELLX_CACHE, default "
            "~/.cache/dcellx), where it is checked against the pinned hash.",
        ),
    ]


REGISTRY: dict[str, DataFile] = {entry.name: entry for entry in _entries()}

# (path, size, mtime_ns) -> sha256, so that repeated lookups in one process hash a file once.
_HASH_MEMO: dict[tuple[str, int, int], str] = {}


def cache_dir() -> Path:
    """Per-user download cache: ``$DCELLX_CACHE``, else ``~/.cache/dcellx``."""
    env = os.environ.get("DCELLX_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "dcellx"


def mirror_dir() -> Path | None:
    """Read-only offline copy laid out like the cache (``$DCELLX_MIRROR``), or None if unset."""
    env = os.environ.get("DCELLX_MIRROR")
    return Path(env).expanduser() if env else None


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks so large files do not fill memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _entry(name: str) -> DataFile:
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise DataFileMissing(f"unknown data file {name!r}; registered names: {known}") from None


def _verify(entry: DataFile, path: Path, label: str | None = None) -> Path:
    """Return ``path`` if its content matches the pinned hash (or nothing is pinned).

    ``label`` names the file in the error when ``path`` itself means nothing to the user
    (a temporary download).
    """
    if entry.sha256 is None:
        return path
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    actual = _HASH_MEMO.get(key) or sha256_file(path)
    if actual != entry.sha256:
        raise ChecksumMismatch(
            f"{label or path}: checksum mismatch for data file {entry.name!r}: "
            f"expected sha256 {entry.sha256}, got {actual}"
        )
    _HASH_MEMO[key] = actual
    return path


def _candidates(entry: DataFile) -> list[tuple[str, Path]]:
    places = [("cache", cache_dir() / entry.path)]
    mirror = mirror_dir()
    if mirror is not None:
        places.append(("mirror", mirror / entry.path))
    return places


def presence(name: str) -> str:
    """Where a file is present: ``cache``, ``mirror`` or ``missing`` (existence only, no hash)."""
    for where, path in _candidates(_entry(name)):
        if path.is_file():
            return where
    return "missing"


def locate(name: str) -> Path | None:
    """The verified local copy of a registered file (cache first, then mirror), or None."""
    entry = _entry(name)
    for _, path in _candidates(entry):
        if path.is_file():
            return _verify(entry, path)
    return None


def _offline() -> bool:
    return os.environ.get("DCELLX_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


def _download(entry: DataFile, dest: Path) -> Path:
    """Fetch ``entry.url`` to ``dest`` atomically; a reader never sees a partial or bad file."""
    assert entry.url is not None
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            with urllib.request.urlopen(entry.url, timeout=DOWNLOAD_TIMEOUT_S) as resp:
                shutil.copyfileobj(resp, out, 1 << 20)
        _verify(entry, tmp, label=f"downloaded {entry.url}")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


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
        why = "no upstream URL is registered"
    elif not allow_download:
        why = "download not allowed"
    elif _offline():
        why = "download skipped because DCELLX_OFFLINE is set"
    else:
        try:
            return _download(entry, cache_dir() / entry.path)
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            reason = " ".join(str(getattr(exc, "reason", None) or exc).split())
            why = f"download from {entry.url} failed ({reason})"
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
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    raise DataFileMissing(
        f"{str(name_or_path)!r} is neither a registered data file nor an existing path "
        f"(registered: {', '.join(sorted(REGISTRY))}; see `dcellx data list`)"
    )
