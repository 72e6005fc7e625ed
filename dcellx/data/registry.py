"""Named data files: where each one lives, what its bytes must hash to, and how to get it.

Experiments refer to data by name (``go-2019-01-27``) rather than by path so that a run is
reproducible on any machine: the name pins the content (sha256) and the lookup order
(user cache, then an offline mirror, then the upstream URL) is the same everywhere.

Downloads are https only, with the system's CA store or the PEM bundle named by
``$DCELLX_CA_BUNDLE``; a redirect must stay on https and on the URL's host unless the entry lists
the other host (``redirect_hosts``). The bytes of a pinned file are checked against its sha256;
an unpinned download gets a record next to the cached file (``<file>.download.json``: URL, final
URL, sha256, size, date) that every later use and ``dcellx data verify`` check the file against,
and that each run's ``env.json`` copies.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

from dcellx.errors import ConfigError, DataFileMissing, DcellxError
from dcellx.fileio import FileWriteError, atomic_write, remove_stale_temps

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
    # Hosts besides the URL's own that a download may be redirected to (always https).
    redirect_hosts: tuple[str, ...] = ()


class ChecksumMismatch(DcellxError):
    """A file's bytes differ from its pinned hash or its download record (corrupt, truncated or
    edited)."""


class DownloadRefused(DcellxError):
    """A download that would not be trustworthy: not https, a redirect to another host or to
    http, or a TLS certificate that does not verify."""


# Next to a cached unpinned download: what was downloaded, from where, when.
RECORD_SUFFIX = ".download.json"


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
            "https://current.geneontology.org/ontology/go-basic.obo",
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
            "dcell-dna-repair-model",
            "dcell/GO_0006281_Net_Last.t7",
            "f499a72d70ad8c0926ef930290e62caa2b4c79e7c59553276213f86e80940521",
            f"{_DCELL}/training/model/Net_Last",
            "The original DCell's own trained DNA-repair model (Torch7 nn.gModule, CudaTensor "
            "float32; `dcellx import-lua`). Deleted upstream after 110c8a7.",
        ),
        DataFile(
            "dcell-dna-repair-gene-map",
            "dcell/GO_0006281_gene2id_mapping",
            "b2bcde9822349f1c4f9af0913407f56765d4067ec72f5f41f992e605b003943a",
            f"{_DCELL}/training/model/GO:0006281_gene2id_mapping",
            "Input gene order of dcell-dna-repair-model: header '<root> <root output>', then "
            "'ORF index' (1-based).",
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
    """Hex sha256 of a file, read in 1 MiB blocks so large files do not fill memory; a file
    unchanged since it was last hashed in this process (path, size, mtime) is not read again."""
    st = os.stat(path)
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key in _HASH_MEMO:
        return _HASH_MEMO[key]
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    _HASH_MEMO[key] = digest.hexdigest()
    return _HASH_MEMO[key]


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
    actual = sha256_file(path)
    if actual != entry.sha256:
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


def _check_record(entry: DataFile, path: Path) -> Path:
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
    for where, path in _candidates(entry):
        if path.is_file():
            if entry.sha256 is None and where == "cache":
                return _check_record(entry, path)
            return _verify(entry, path)
    return None


def _offline() -> bool:
    return os.environ.get("DCELLX_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


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


def _download(entry: DataFile, dest: Path) -> Path:
    """Fetch ``entry.url`` (https only) to ``dest`` atomically; a reader never sees a partial or
    unverified file. An unpinned file gets its download record first (see the module doc)."""
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
        if entry.sha256 is not None:
            if actual != entry.sha256:
                raise ChecksumMismatch(
                    f"downloaded {url}: checksum mismatch for data file {entry.name!r}: "
                    f"expected sha256 {entry.sha256}, got {actual}"
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


def _transfer_reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    reason = getattr(exc, "reason", None) or exc
    return " ".join(str(reason).split())


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
        except _Transfer as t:
            reason = getattr(t.exc, "reason", None)
            if isinstance(reason, ssl.SSLCertVerificationError):
                host = urlparse(entry.url).hostname
                raise DownloadRefused(
                    f"download of {entry.name!r} from {entry.url} refused: the TLS certificate "
                    f"of {host} does not verify ({reason.verify_message}); behind a proxy that "
                    "re-signs TLS, set DCELLX_CA_BUNDLE to its CA bundle (PEM)"
                ) from None
            why = f"download from {entry.url} failed ({_transfer_reason(t.exc)})"
        except FileWriteError as exc:
            why = f"the cache cannot be written ({exc})"
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


def verify_cache() -> list[CacheCheck]:
    """Re-check every file in the cache: pinned files against their sha256, unpinned downloads
    against their record, compiled ontologies against their content hash; report records whose
    file is gone and cached unpinned files without a record; remove dead writers' temp files."""
    from dcellx.ontology.compiled import CompiledOntology

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
                _verify(entry, path)
                detail = f"sha256 {entry.sha256[:12]} (pinned)"
                checks.append(CacheCheck(path, "ok", detail))
            elif (rec := read_record(path)) is None:
                checks.append(CacheCheck(path, "unrecorded", "unpinned, no download record"))
            else:
                _check_record(entry, path)
                detail = f"sha256 {rec['sha256'][:12]}, {rec['url']}, {rec.get('downloaded')}"
                checks.append(CacheCheck(path, "ok", detail))
        except (OSError, DcellxError) as exc:
            checks.append(CacheCheck(path, "failed", str(exc)))
    for npz in sorted((root / "ontologies").glob("*.npz")):
        try:
            onto = CompiledOntology.load(npz)
            checks.append(CacheCheck(npz, "ok", f"compiled ontology {onto.content_hash[:12]}"))
        except (OSError, DcellxError) as exc:
            checks.append(CacheCheck(npz, "failed", str(exc)))
    for folder in {root / Path(e.path).parent for e in REGISTRY.values()} | {root / "ontologies"}:
        for tmp in remove_stale_temps(folder):
            checks.append(CacheCheck(tmp, "removed", "temp file of an interrupted write"))
    return checks
