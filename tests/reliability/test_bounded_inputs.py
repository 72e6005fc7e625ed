"""Input is bounded and checked before use (issue 27): a device, FIFO or directory is refused
before it is read or hashed; a bomb stops at a limit (line length, decompressed size,
expansion), one line naming file and line; a quoted value is short and printable; a file only
privilege lets us read is never quoted; running out of memory is one line, not a traceback."""

from __future__ import annotations

import gzip
import os
import zipfile
import zlib
from pathlib import Path

import pytest

from tests.reliability.conftest import OVERFIT, Result, left_behind, refused, run_cli


def overfit_on(cli, data: Path, tmp_path: Path) -> tuple[Result, Path]:
    runs = tmp_path / "runs"
    return cli(*OVERFIT, "--data", str(data), "--runs-dir", str(runs)), runs


def test_a_recipe_whose_ontology_is_dev_zero_is_refused_not_hashed(tmp_path: Path) -> None:
    """``ontology = "/dev/zero"`` read forever inside the sha256 of the inputs."""
    recipe = tmp_path / "zero.toml"
    recipe.write_text('name = "zero"\nontology = "/dev/zero"\nontology_format = "topology"\n')
    res = run_cli(["ontology", "stats", "--go", str(recipe)], timeout=60)
    refused(res, "/dev/zero: not a regular file (a character device)")


def test_a_fifo_or_directory_as_data_is_one_line(tmp_path: Path, cli) -> None:
    fifo = tmp_path / "data.fifo"
    os.mkfifo(fifo)  # no writer: reading it would block forever
    res = run_cli([*OVERFIT, "--data", str(fifo), "--runs-dir", str(tmp_path / "r")], timeout=60)
    refused(res, f"{fifo}: not a regular file (a FIFO (named pipe))")
    res, runs = overfit_on(cli, tmp_path, tmp_path)
    refused(res, f"{tmp_path}: not a regular file (a directory)")
    assert not runs.exists()


def test_a_gzip_of_nuls_stops_at_the_line_limit(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 KB of gzip expanded to 200 MB of NULs and put the whole line in the message; here
    64 kB of NULs over a 4 kB line limit: refused at line 1, the message short."""
    monkeypatch.setenv("DCELLX_MAX_LINE_BYTES", "4096")
    bomb = tmp_path / "nuls.txt.gz"
    bomb.write_bytes(gzip.compress(b"\0" * (64 << 10)))
    res, runs = overfit_on(cli, bomb, tmp_path)
    line = refused(res, f"{bomb}:1: line longer than 4096 bytes (DCELLX_MAX_LINE_BYTES)")
    assert len(line) < 300 and not runs.exists()


def test_a_zip_bomb_stops_at_the_expansion_limit(tmp_path: Path, cli) -> None:
    """A zip whose member deflates ~1000x (4 MiB of newlines in ~4 kB; every line blank, so no
    line limit stops it) is refused at DCELLX_MAX_EXPANSION's default (100x, at least 1 MiB)."""
    bomb = tmp_path / "screen.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("SGA_ExE.txt", b"\n" * (4 << 20))
    res, runs = overfit_on(cli, bomb, tmp_path)
    refused(res, f"{bomb}!SGA_ExE.txt: decompresses to more than 1048576 bytes", "EXPANSION")
    assert not runs.exists()


def test_a_gzip_over_the_decompressed_limit_is_refused(
    tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch, dna_file: Path
) -> None:
    data = tmp_path / "dna.txt.gz"
    data.write_bytes(gzip.compress(dna_file.read_bytes() * 40))  # ~30 kB of real lines
    monkeypatch.setenv("DCELLX_MAX_DECOMPRESSED_BYTES", "20000")
    res, runs = overfit_on(cli, data, tmp_path)
    refused(res, f"{data}: decompresses to more than 20000 bytes (DCELLX_MAX_DECOMPRESSED_BYTES)")
    assert not runs.exists()


def test_a_long_token_is_quoted_short_and_printable(tmp_path: Path, cli) -> None:
    """A 20 MB token gave a 20 MB error line; a quoted value is now at most ~80 characters."""
    data = tmp_path / "token.txt"
    data.write_text("\x1b[31m" + "x" * 50_000 + " YLR035C YML060W 0.1\n")
    res, _ = overfit_on(cli, data, tmp_path)
    line = refused(res, f"{data}:1: gene count k is not an integer: '\\x1b[31mxxx", "(50008 char")
    assert len(line) < 300 and "\x1b" not in line


@pytest.mark.skipif(os.geteuid() != 0, reason="only root reads a file others may not read")
def test_a_file_only_privilege_can_read_is_never_quoted(tmp_path: Path, cli) -> None:
    """A mistyped path (``--obo /etc/shadow``) quoted its first line, a password hash with it."""
    shadow = tmp_path / "shadow"
    shadow.write_text("root:$6$saltsalt$SECRETHASH:19000:0:99999:7:::\n")
    shadow.chmod(0o640)  # as /etc/shadow: root and a group may read it, others not
    res = cli("ontology", "stats", "--go", "dna-repair", "--obo", str(shadow))
    hidden = "<not shown: the file is not readable by others>"
    line = refused(res, f"{shadow}:1: expected {hidden}, got {hidden}")
    assert "SECRET" not in res.out + res.err and "root:" not in line
    shadow.chmod(0o644)  # readable by everyone: quoted as before
    assert "SECRETHASH" in refused(
        cli("ontology", "stats", "--go", "dna-repair", "--obo", str(shadow))
    )


def _gzip_of_zeros(path: Path, size: int) -> None:
    """``size`` NULs gzipped without holding them (1 MiB at a time)."""
    comp, block = zlib.compressobj(9, zlib.DEFLATED, 31), b"\0" * (1 << 20)
    with open(path, "wb") as fh:
        for _ in range(size >> 20):
            fh.write(comp.compress(block))
        fh.write(comp.flush())


RUN_WITH_MEMORY_CAP = """
import resource, sys
from dcellx_cli.main import main
# the address space this process has after its imports, plus 300 MiB
vm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmSize:")) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + (300 << 20), resource.RLIM_INFINITY))
sys.argv = ["dcellx", *sys.argv[1:]]
main()
"""


def test_running_out_of_memory_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Limits raised out of the way and 300 MiB of memory left: a 600 MB line of NULs ended in
    a MemoryError traceback; it is one line, exit 2."""
    bomb = tmp_path / "nuls.gz"
    _gzip_of_zeros(bomb, 600 << 20)
    monkeypatch.setenv("DCELLX_MAX_LINE_BYTES", str(1 << 40))
    monkeypatch.setenv("DCELLX_MAX_EXPANSION", str(1 << 20))
    args = ["ontology", "stats", "--go", "dna-repair", "--obo", str(bomb)]
    import subprocess
    import sys

    from tests.reliability.conftest import ROOT

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", RUN_WITH_MEMORY_CAP, *args], env=env, cwd=ROOT,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    refused(Result(done.returncode, done.stdout, done.stderr), "error: out of memory")
    assert left_behind(tmp_path) == []
