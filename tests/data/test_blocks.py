"""The block reader of screens: pyarrow's columns equal the line reader's rows, and a problem in
any block is named with its file and line.

The files are generated in the published Costanzo 2016 / Kuzmin 2018 layouts by the screens
benchmark's generator (synthetic rows, real column layout); blocks are made small so that a file
of a few thousand rows spans many blocks, some of which go through the line reader.
"""

from __future__ import annotations

import gzip
import importlib.util
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from dcellx.data import blocks
from dcellx.data.screens import ScreenStats, load_screen
from dcellx.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
MIX = {"deletion": 0.6, "ts": 0.3, "damp": 0.1}


def _generator():
    spec = importlib.util.spec_from_file_location(
        "bench_screens", ROOT / "benchmarks/bench_screens.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def screens(tmp_path_factory) -> dict[str, Path]:
    gen, out = _generator(), tmp_path_factory.mktemp("screens")
    files = {}
    for screen in ("costanzo2016", "kuzmin2018"):
        files[screen] = out / f"{screen}.tsv"
        gen.generate(screen, files[screen], 3000, 1.0, MIX, seed=5)
    return files


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(blocks, "BLOCK_BYTES", 4096)


def _read(path: Path, line_reader: bool, monkeypatch: pytest.MonkeyPatch, **kw):
    """(dataset, stats) of one read, by blocks or (``line_reader``) line by line."""
    with monkeypatch.context() as m, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = []
        columns = blocks.TextBlock.columns

        def spy(self, strings, numbers):
            out = None if line_reader else columns(self, strings, numbers)
            parsed.append(out is not None)
            return out

        m.setattr(blocks.TextBlock, "columns", spy)
        stats = ScreenStats()
        ds = load_screen(path, cache=False, stats=stats, **kw)
    # the fast read took most blocks whole; the line reader none
    assert (sum(parsed) > len(parsed) // 2) if not line_reader else not any(parsed)
    return ds, stats


def _same(a, b) -> None:
    (da, sa), (db, sb) = a, b
    assert da.genes == db.genes
    assert np.array_equal(da.values, db.values) and np.array_equal(da.counts, db.counts)
    assert da.meta.keys() == db.meta.keys()
    for key in da.meta:
        assert da.meta[key].tolist() == db.meta[key].tolist(), key
    assert sa.to_dict() == sb.to_dict()


FILTERS = [
    ("costanzo2016", {}),
    ("costanzo2016", {"max_pvalue": 0.3, "min_abs_epsilon": 0.05}),
    ("costanzo2016", {"allele_types": ["deletion", "ts"], "phenotype": "dmf"}),
    ("kuzmin2018", {}),
    ("kuzmin2018", {"mutant_types": ["trigenic"], "max_pvalue": 0.5}),
    ("kuzmin2018", {"allele_types": ["deletion"], "drop_ho": False, "phenotype": "fitness"}),
]


@pytest.mark.parametrize(("screen", "filters"), FILTERS)
def test_blocks_equal_the_line_reader(screens, monkeypatch, screen, filters) -> None:
    fast = _read(screens[screen], False, monkeypatch, **filters)
    slow = _read(screens[screen], True, monkeypatch, **filters)
    _same(fast, slow)
    assert fast[1].rows == 3000 and len(fast[0]) > 100


def _variant(src: Path, dst: Path, how: str) -> Path:
    lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
    if how == "crlf":
        dst.write_bytes("".join(lines).replace("\n", "\r\n").encode())
    elif how == "comments":  # a '#' line, blank lines and a whitespace-only line inside
        lines[1500:1500] = ["# a comment\n", "\n", "   \n", "\t\n"]
        dst.write_text("".join(lines), encoding="utf-8")
    elif how == "gzip":
        dst = dst.with_suffix(".gz")
        dst.write_bytes(gzip.compress("".join(lines).encode()))
    elif how == "zip":  # two members, the second a part of the file with its own header
        dst = dst.with_suffix(".zip")
        with zipfile.ZipFile(dst, "w") as zf:
            zf.writestr("SGA_ExE.txt", "".join(lines[:2000]))
            zf.writestr("SGA_NxN.txt", "".join(lines[:1] + lines[2000:]))
    return dst


@pytest.mark.parametrize("how", ["crlf", "comments", "gzip", "zip"])
def test_file_variants_read_alike(screens, tmp_path, monkeypatch, how) -> None:
    path = _variant(screens["costanzo2016"], tmp_path / "screen.txt", how)
    _same(_read(path, False, monkeypatch), _read(path, True, monkeypatch))
    plain = _read(screens["costanzo2016"], False, monkeypatch)
    assert _read(path, False, monkeypatch)[0].genes == plain[0].genes


def _break(src: Path, dst: Path, line: int, edit) -> Path:
    raw = src.read_bytes().split(b"\n")
    raw[line - 1] = edit(raw[line - 1])
    dst.write_bytes(b"\n".join(raw))
    return dst


def _field(i: int, new: bytes):
    return lambda r: b"\t".join([*r.split(b"\t")[:i], new, *r.split(b"\t")[i + 1 :]])


BROKEN = [
    ("a value that is no number", _field(5, b"x")),
    ("a strain without an ORF", _field(0, b"notastrain_sn1")),
    ("a field too many", lambda r: r + b"\textra"),
    ("a byte that is not UTF-8", lambda r: r[:3] + b"\xff" + r[4:]),
    ("an infinite value", _field(5, b"inf")),
]


@pytest.mark.parametrize(("what", "edit"), BROKEN, ids=[b[0] for b in BROKEN])
def test_a_problem_deep_in_the_file_names_its_line(screens, tmp_path, monkeypatch, what, edit):
    path = _break(screens["costanzo2016"], tmp_path / "SGA_ExE.txt", 2718, edit)
    with pytest.raises(InputError) as fast:
        _read(path, False, monkeypatch)
    with pytest.raises(InputError) as slow:
        _read(path, True, monkeypatch)
    assert f"{path}:2718:" in str(fast.value)
    assert str(fast.value) == str(slow.value)


def test_a_disagreeing_repeat_is_refused_at_its_line(screens, tmp_path, monkeypatch) -> None:
    with pytest.raises(InputError) as fast:
        _read(screens["kuzmin2018"], False, monkeypatch, duplicates="error")
    with pytest.raises(InputError) as slow:
        _read(screens["kuzmin2018"], True, monkeypatch, duplicates="error")
    assert "duplicate genotype" in str(fast.value) and str(fast.value) == str(slow.value)
