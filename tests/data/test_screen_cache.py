"""The parsed-screen cache behind ``load_screen``: identical round trip, no second parse, a new
entry for new content, corrupt entries rebuilt, an unwritable cache only a warning."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest

from dcellx.data import formats, screens
from dcellx.data.genotypes import GenotypeDataset
from dcellx.data.screen_cache import cache_root
from dcellx.data.screens import ScreenStats, load_screen
from tests.data.test_screens import COSTANZO_HEADER, COSTANZO_ROWS, KUZMIN_HEADER, KUZMIN_ROWS
from tests.data.test_screens import _write as write_screen

# a trigenic row next to digenic ones: gene sets of two widths in one file
MIXED_ROW = (
    "YAL015C+YBR098W_tm102\tntg1Δ+mms4Δ\tYBL007C_dma91\tsla1Δ\ttrigenic\t0.02\t0.03\t0.5\t"
    "0.8\t0.9\t0.7\t0.05"
)


def assert_identical(a: GenotypeDataset, b: GenotypeDataset) -> None:
    assert a.genes == b.genes and all(type(g) is tuple for g in b.genes)
    assert a.phenotypes == b.phenotypes and a.source == b.source
    assert a.values.dtype == b.values.dtype and a.values.shape == b.values.shape
    assert a.values.tobytes() == b.values.tobytes()  # bitwise
    assert a.counts.dtype == b.counts.dtype and a.counts.tolist() == b.counts.tolist()
    assert (a.meta is None) == (b.meta is None)
    if a.meta is not None and b.meta is not None:
        assert list(a.meta) == list(b.meta)
        for key in a.meta:
            assert a.meta[key].dtype == b.meta[key].dtype
            assert a.meta[key].tolist() == b.meta[key].tolist()


def _entries() -> list[Path]:
    return sorted(cache_root().glob("*.npz"))


def _refuse_parse(
    monkeypatch: pytest.MonkeyPatch, names: tuple[str, ...] = formats.SCREEN_FORMATS
) -> None:
    """Make the registered readers of ``names`` (what ``load_screen`` dispatches to) fail."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the file was parsed again")

    for name in names:
        spec = dataclasses.replace(formats.REGISTERED[name], read=refuse)
        monkeypatch.setitem(formats.REGISTERED, name, spec)


@pytest.fixture
def costanzo(tmp_path: Path) -> Path:
    return write_screen(tmp_path, "SGA_ExN_NxE.txt", COSTANZO_HEADER, COSTANZO_ROWS)


@pytest.fixture
def kuzmin(tmp_path: Path) -> Path:
    return write_screen(tmp_path, "s1.tsv", KUZMIN_HEADER, [*KUZMIN_ROWS, MIXED_ROW])


@pytest.mark.parametrize("which", ["costanzo", "kuzmin"])
def test_second_load_reads_the_cache_and_is_identical(
    which: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = request.getfixturevalue(which)
    filters = {"max_pvalue": 0.3 if which == "costanzo" else 0.5}
    parsed = load_screen(path, cache=False, **filters)
    first_stats, second_stats = ScreenStats(), ScreenStats()
    first = load_screen(path, stats=first_stats, **filters)
    assert len(_entries()) == 1 and (cache_root() / "index.json").is_file()
    _refuse_parse(monkeypatch)
    second = load_screen(path, stats=second_stats, **filters)
    assert_identical(parsed, first)
    assert_identical(parsed, second)
    assert not first_stats.cached and second_stats.cached
    assert first_stats.to_dict() == second_stats.to_dict()
    if which == "kuzmin":  # two gene-set widths
        assert {len(g) for g in second.genes} == {2, 3}
    with pytest.raises(AssertionError, match="parsed again"):  # other options: another entry
        load_screen(path, max_pvalue=0.01)


def test_options_are_normalised_like_the_readers(
    kuzmin: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed = load_screen(kuzmin, mutant_types=["Trigenic ", "digenic"], max_pvalue=1)
    _refuse_parse(monkeypatch)
    assert_identical(
        parsed, load_screen(kuzmin, mutant_types=("digenic", "trigenic"), max_pvalue=1.0)
    )
    assert len(_entries()) == 1


def test_same_content_elsewhere_shares_the_entry_but_names_its_own_path(
    costanzo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_screen(costanzo)
    copy = tmp_path / "copy.txt"
    copy.write_bytes(costanzo.read_bytes())
    _refuse_parse(monkeypatch)
    ds = load_screen(copy)
    assert ds.source == str(copy) and len(_entries()) == 1
    index = json.loads((cache_root() / "index.json").read_text())
    assert set(index) == {str(costanzo.resolve()), str(copy.resolve())}
    assert index[str(copy.resolve())]["sha256"] == index[str(costanzo.resolve())]["sha256"]


def test_changed_file_content_is_a_new_entry(costanzo: Path) -> None:
    before = load_screen(costanzo)
    changed = COSTANZO_ROWS[0].replace("\t-0.1255\t", "\t-0.9\t")
    write_screen(costanzo.parent, costanzo.name, COSTANZO_HEADER, [changed, *COSTANZO_ROWS[1:]])
    st = costanzo.stat()
    os.utime(costanzo, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    after = load_screen(costanzo)
    assert len(_entries()) == 2
    assert after.values[0, 0] == pytest.approx((-0.9 - 0.2) / 2) != before.values[0, 0]
    assert_identical(after, load_screen(costanzo, cache=False))


@pytest.mark.parametrize(
    "damage",
    ["garbage", "truncate", "wrong arrays"],
)
def test_corrupt_entry_is_rebuilt(
    costanzo: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    good = load_screen(costanzo)
    (entry,) = _entries()
    if damage == "garbage":
        entry.write_bytes(b"not an npz file")
    elif damage == "truncate":
        entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])
    else:
        np.savez(entry, values=np.zeros(3))  # an npz, but not an entry
    capsys.readouterr()
    again = load_screen(costanzo)
    assert "unreadable screen cache entry" in capsys.readouterr().err
    assert_identical(good, again)
    assert_identical(good, load_screen(costanzo))  # rewritten: read back without a warning
    assert "unreadable" not in capsys.readouterr().err


def test_unwritable_cache_is_a_warning(
    costanzo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("the cache directory would be under this file\n")
    monkeypatch.setenv("DCELLX_CACHE", str(blocker / "cache"))
    ds = load_screen(costanzo, max_pvalue=0.05)  # no conflicting duplicates left to warn about
    err = capsys.readouterr().err
    assert err.startswith("warning: screen cache not written: ") and str(blocker) in err
    assert err.count("\n") == 1
    assert_identical(load_screen(costanzo, max_pvalue=0.05, cache=False), ds)


def test_warnings_are_repeated_from_the_cache(
    costanzo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.warns(UserWarning, match="skipped 1 rows without dmf"):
        load_screen(costanzo, phenotype="dmf")
    parsed = capsys.readouterr().err
    assert parsed.startswith(f"warning: {costanzo}: 1 genotype(s) measured more than once")
    copy = tmp_path / "copy.txt"
    copy.write_bytes(costanzo.read_bytes())
    with pytest.warns(UserWarning, match=f"{copy}: skipped 1 rows without dmf"):
        load_screen(copy, phenotype="dmf")
    assert capsys.readouterr().err == parsed.replace(str(costanzo), str(copy))
    assert len(_entries()) == 1


def test_a_dcell_file_is_cached_too(monkeypatch: pytest.MonkeyPatch, shared_data: Path) -> None:
    """The real DNA-repair training file: parsed once, then loaded from the cache identically."""
    path = shared_data / "dcell" / "GO_0006281_training_data_2016_0"
    first, again = ScreenStats(), ScreenStats()
    load_screen(path, stats=first)
    assert not _entries()  # a small file is parsed each time
    monkeypatch.setattr(screens, "PLAIN_CACHE_BYTES", 0)
    parsed = load_screen(path, stats=first)
    assert not first.cached and len(_entries()) == 1

    _refuse_parse(monkeypatch, ("dcell",))
    cached = load_screen(path, stats=again)
    assert again.cached and again.genotypes == first.genotypes == 8783
    assert_identical(parsed, cached)
    assert cached.codes.dtype == np.int32 and cached.codes.shape == (8783, 2)
