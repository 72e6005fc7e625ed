"""The data registry on the real shared mirror: lookup order, hashes, downloads, messages."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dcellx.errors import DataFileMissing
from dcellx.io import registry
from dcellx.io.registry import ChecksumMismatch, DataFile, DownloadRefused
from dcellx_cli.main import app, main
from tests.reliability.https_server import HttpsServer, make_cert

TRAIN = "dcell-dna-repair-train"
TRAIN_PATH = "dcell/GO_0006281_training_data_2016_0"


KUZMIN = "kuzmin-2018-trigenic"
KUZMIN_PATH = "kuzmin2018/aao1729_data_s1.tsv"
KUZMIN_SHA = "c82b60f98590071fcb07b74b672958a5863b58e03b78631e6235cb664ee82afb"
# Pinned but not in the shared mirror: the user supplies the file (a cache drop-in).
PINNED_UNMIRRORED = {KUZMIN}


def test_pinned_hashes_match_the_mirror_sha256sums(shared_data: Path) -> None:
    sums = {}
    for line in (shared_data / "SHA256SUMS").read_text().splitlines():
        digest, rel = line.split()
        sums[rel.removeprefix("./")] = digest
    pinned = {
        e.path: e.sha256
        for e in registry.REGISTRY.values()
        if e.sha256 and e.name not in PINNED_UNMIRRORED
    }
    assert pinned and all(sums[path] == digest for path, digest in pinned.items())
    assert all(registry.REGISTRY[name].path not in sums for name in PINNED_UNMIRRORED)


def test_every_mirrored_pinned_file_locates_and_verifies(shared_data: Path) -> None:
    for entry in registry.REGISTRY.values():
        if entry.sha256 and entry.name not in PINNED_UNMIRRORED:
            assert registry.locate(entry.name) == shared_data / entry.path
            assert registry.presence(entry.name) == "mirror"
    for name in PINNED_UNMIRRORED:
        assert registry.locate(name) is None and registry.presence(name) == "missing"


def test_kuzmin_2018_data_s1_is_pinned_and_enforced_in_the_cache(data_env: Path) -> None:
    entry = registry.REGISTRY[KUZMIN]
    assert (entry.path, entry.sha256) == (KUZMIN_PATH, KUZMIN_SHA)
    assert KUZMIN_PATH in entry.description  # tells the user where to drop the file
    dropped = data_env / KUZMIN_PATH
    dropped.parent.mkdir(parents=True)
    dropped.write_text("Query Strain ID\tArray Strain ID\tnot the published table\n")
    assert registry.presence(KUZMIN) == "cache"
    for lookup in (registry.locate, registry.fetch, registry.resolve):
        with pytest.raises(ChecksumMismatch) as err:
            lookup(KUZMIN)
        msg = str(err.value)
        assert str(dropped) in msg and KUZMIN in msg and KUZMIN_SHA in msg
        assert registry.sha256_file(dropped) in msg


def test_cli_fetch_of_a_wrong_kuzmin_file_is_one_clear_line(
    monkeypatch: pytest.MonkeyPatch, data_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dropped = data_env / KUZMIN_PATH
    dropped.parent.mkdir(parents=True)
    dropped.write_bytes(b"truncated download")
    monkeypatch.setattr(sys, "argv", ["dcellx", "data", "fetch", KUZMIN])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert "checksum mismatch" in err and KUZMIN_SHA in err and str(dropped) in err


def test_unpinned_unmirrored_file_is_missing() -> None:
    assert registry.locate("go-basic-latest") is None
    assert registry.presence("go-basic-latest") == "missing"


def test_cache_is_searched_before_the_mirror(data_env: Path, shared_data: Path) -> None:
    cached = data_env / TRAIN_PATH
    cached.parent.mkdir(parents=True)
    shutil.copyfile(shared_data / TRAIN_PATH, cached)
    assert registry.locate(TRAIN) == cached
    assert registry.presence(TRAIN) == "cache"


def test_checksum_mismatch_names_file_and_both_hashes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shared_data: Path
) -> None:
    mirror = tmp_path / "mirror"
    bad = mirror / TRAIN_PATH
    bad.parent.mkdir(parents=True)
    data = bytearray((shared_data / TRAIN_PATH).read_bytes())
    data[-2] = ord("1") if data[-2] != ord("1") else ord("2")  # last digit: parses, but altered
    bad.write_bytes(bytes(data))
    monkeypatch.setenv("DCELLX_MIRROR", str(mirror))
    with pytest.raises(ChecksumMismatch) as err:
        registry.locate(TRAIN)
    msg = str(err.value)
    assert str(bad) in msg and TRAIN in msg
    assert registry.REGISTRY[TRAIN].sha256 in msg
    assert registry.sha256_file(bad) in msg


def test_missing_message_lists_every_place_and_the_remedies(
    monkeypatch: pytest.MonkeyPatch, data_env: Path
) -> None:
    monkeypatch.delenv("DCELLX_MIRROR")
    model = registry.REGISTRY["dcell-dna-repair-model"]  # downloadable, not shipped
    with pytest.raises(DataFileMissing) as err:
        registry.fetch(model.name)
    msg = str(err.value)
    assert "\n" not in msg
    assert model.name in msg and str(data_env / model.path) in msg
    assert "DCELLX_MIRROR not set" in msg
    assert f"set DCELLX_MIRROR to a directory holding {model.path}" in msg
    assert f"dcellx data fetch {model.name}" in msg
    assert "DCELLX_OFFLINE" in msg


def test_missing_message_names_the_mirror_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DCELLX_MIRROR", str(tmp_path / "empty"))
    with pytest.raises(DataFileMissing, match="no upstream URL is registered") as err:
        registry.fetch("sgd-2017-01-18")
    assert str(tmp_path / "empty" / "annotations/sgd-2017-01-18.gaf.gz") in str(err.value)
    assert "converted from SGD's GenBank" in str(err.value)  # why there is none
    assert "dcellx data fetch" not in str(err.value)  # nothing to download from


def _file_entry(
    monkeypatch: pytest.MonkeyPatch, url: str, sha: str | None, name: str = "local-train"
) -> DataFile:
    entry = DataFile(name, "local/train.txt", sha, url, "test entry")
    monkeypatch.setitem(registry.REGISTRY, name, entry)
    monkeypatch.delenv("DCELLX_OFFLINE")
    monkeypatch.delenv("DCELLX_MIRROR")
    return entry


@pytest.fixture
def https(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[HttpsServer]:
    """A local https server (127.0.0.1, throwaway certificate trusted via DCELLX_CA_BUNDLE)."""
    cert, key = make_cert(tmp_path)
    monkeypatch.setenv("DCELLX_CA_BUNDLE", str(cert))
    with HttpsServer(cert, key) as server:
        yield server


def test_fetch_downloads_atomically_into_the_cache(
    monkeypatch: pytest.MonkeyPatch, data_env: Path, shared_data: Path, https: HttpsServer
) -> None:
    url = https.serve("/train", (shared_data / TRAIN_PATH).read_bytes())
    entry = _file_entry(monkeypatch, url, registry.REGISTRY[TRAIN].sha256)
    got = registry.fetch(entry.name)
    assert got == data_env / entry.path
    assert registry.sha256_file(got) == entry.sha256
    assert [p.name for p in got.parent.iterdir()] == ["train.txt"]  # no temp file left
    assert registry.locate(entry.name) == got  # now served from the cache


def test_download_with_wrong_hash_leaves_nothing_behind(
    monkeypatch: pytest.MonkeyPatch, data_env: Path, shared_data: Path, https: HttpsServer
) -> None:
    url = https.serve("/train", (shared_data / TRAIN_PATH).read_bytes())
    entry = _file_entry(monkeypatch, url, "0" * 64)
    with pytest.raises(ChecksumMismatch, match=f"downloaded {url}"):
        registry.fetch(entry.name)
    assert list((data_env / "local").iterdir()) == []


def test_failed_download_is_missing_and_fast(
    monkeypatch: pytest.MonkeyPatch, https: HttpsServer
) -> None:
    entry = _file_entry(monkeypatch, https.url("/nowhere.txt"), None)
    with pytest.raises(DataFileMissing, match=r"failed \(HTTP 404 Not Found\)"):
        registry.fetch(entry.name)
    dead = DataFile("dead-https", "x/y", None, "https://127.0.0.1:9/y", "closed port")
    monkeypatch.setitem(registry.REGISTRY, dead.name, dead)
    with pytest.raises(DataFileMissing, match="download from https://127.0.0.1:9/y failed"):
        registry.fetch(dead.name)
    plain = DataFile("plain-http", "x/z", None, "http://127.0.0.1:9/z", "not https")
    monkeypatch.setitem(registry.REGISTRY, plain.name, plain)
    with pytest.raises(DownloadRefused, match="is not an https:// URL"):
        registry.fetch(plain.name)


def test_offline_and_allow_download_false_never_download(
    monkeypatch: pytest.MonkeyPatch, data_env: Path, shared_data: Path
) -> None:
    entry = _file_entry(monkeypatch, "https://127.0.0.1:9/train", None)
    with pytest.raises(DataFileMissing, match="download not allowed"):
        registry.fetch(entry.name, allow_download=False)
    monkeypatch.setenv("DCELLX_OFFLINE", "1")
    with pytest.raises(DataFileMissing, match="DCELLX_OFFLINE"):
        registry.fetch(entry.name)
    assert not (data_env / entry.path).exists()


def test_resolve_names_paths_and_unknowns(shared_data: Path, tmp_path: Path) -> None:
    assert registry.resolve(TRAIN) == shared_data / TRAIN_PATH
    own = tmp_path / "mine.txt"
    own.write_text("1 YAL001C 0.5\n")
    assert registry.resolve(own) == own and registry.resolve(str(own)) == own
    with pytest.raises(DataFileMissing, match="neither a registered data file"):
        registry.resolve(tmp_path / "absent.txt")
    with pytest.raises(DataFileMissing, match="unknown data file"):
        registry.fetch("no-such-file")


def test_cli_data_list_shows_every_name() -> None:
    result = CliRunner().invoke(app, ["data", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for name in registry.REGISTRY:
        assert name in result.output


def test_cli_fetch_prints_the_path(shared_data: Path) -> None:
    result = CliRunner().invoke(app, ["data", "fetch", TRAIN])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(shared_data / TRAIN_PATH)


def test_cli_missing_file_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DCELLX_MIRROR")
    monkeypatch.setattr(sys, "argv", ["dcellx", "data", "fetch", "sgd-2017-01-18"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert "annotations/sgd-2017-01-18.gaf.gz" in err
