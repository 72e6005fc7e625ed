"""The format registry: what is registered, how a file is sniffed, and that a new format is one
module plus one entry, read by ``load_screen`` and ``data inspect`` alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcellx.data import formats
from dcellx.data.collect import Duplicates, MeasurementLog
from dcellx.data.formats import GenotypeFormat, get_format, sniff_format
from dcellx.data.genotypes import GenotypeDataset
from dcellx.data.inspect import inspect_file
from dcellx.data.screens import load_screen
from dcellx.data.sga import ScreenStats, data_lines, text_sources
from dcellx.errors import ConfigError, InputError


def test_registered_formats_in_the_order_users_see() -> None:
    assert formats.FORMATS == ("auto", "dcell", "table", "costanzo2016", "kuzmin2018")
    assert formats.SCREEN_FORMATS == ("costanzo2016", "kuzmin2018")
    assert all(name == spec.name for name, spec in formats.REGISTERED.items())
    # exactly one fallback, and it is the headerless DCell format
    assert [f.name for f in formats.REGISTERED.values() if f.sniff is None] == ["dcell"]
    assert get_format("kuzmin2018").phenotypes[0] == "tau"
    with pytest.raises(ConfigError, match=r"unknown genotype format 'csv'; choose from \['auto'"):
        get_format("csv")


def test_screens_are_sniffed_before_a_table(tmp_path: Path) -> None:
    """A header naming both a screen's columns and ``genes`` is the screen, as it always was."""
    path = tmp_path / "both.tsv"
    path.write_text("Query Strain ID\tArraytype/Temp\tgenes\n", encoding="utf-8")
    assert sniff_format(path) == "costanzo2016"
    path.write_text("# a comment first\n\ngenes,score\n", encoding="utf-8")
    assert sniff_format(path) == "table"
    path.write_text("anything else\n", encoding="utf-8")
    assert sniff_format(path) == "dcell"


# -- a new format: what a contributor writes (here in the test, normally a module of
# dcellx/data/formats/) ------------------------------------------------------------------------
PAIRS_HEADER = "gene_a\tgene_b\tscore"


def _sniff_pairs(line: str) -> bool:
    return line.split("\t") == PAIRS_HEADER.split("\t")


def _read_pairs(
    path: str | Path, *, duplicates: Duplicates = "mean", stats: ScreenStats | None = None
) -> GenotypeDataset:
    out = MeasurementLog(path, duplicates)
    label, opener = text_sources(Path(path))[0]
    for lineno, text in data_lines(label, opener):
        cells = text.split("\t")
        if cells == PAIRS_HEADER.split("\t"):
            continue
        if len(cells) != 3:
            raise InputError(label, lineno, f"expected 3 tab-separated fields, got {len(cells)}")
        out.add(cells[:2], [float(cells[2])], lineno)
    ds = out.finish(["score"])
    if stats is not None:
        stats.rows = stats.measurements = int(ds.counts.sum())
        stats.genotypes = len(ds)
    return ds


PAIRS = GenotypeFormat("pairs", _sniff_pairs, _read_pairs)


@pytest.fixture
def pairs_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(formats.REGISTERED, PAIRS.name, PAIRS)  # the one registration


def test_a_new_format_is_one_registration(tmp_path: Path, pairs_registered: None) -> None:
    path = tmp_path / "pairs.tsv"
    path.write_text(
        f"{PAIRS_HEADER}\nYML032C\tYER095W\t0.5\nYER095W\tYML032C\t0.7\nYAL002W\tYAL015C\t-1\n",
        encoding="utf-8",
    )
    assert sniff_format(path) == "pairs"
    ds = load_screen(path)
    assert [frozenset(g) for g in ds.genes] == [
        frozenset({"YML032C", "YER095W"}),
        frozenset({"YAL002W", "YAL015C"}),
    ]
    assert ds.values[:, 0].tolist() == pytest.approx([0.6, -1.0]) and ds.counts.tolist() == [2, 1]
    with pytest.raises(ConfigError, match="apply to screen formats, not 'pairs'"):
        load_screen(path, max_pvalue=0.05)
    report = inspect_file(path)
    assert report["format"] == "pairs" and report["genotypes"] == 2 and report["rows"] == 3
    path.write_text(f"{PAIRS_HEADER}\nYML032C\tYER095W\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"pairs\.tsv:2: expected 3 tab-separated fields"):
        load_screen(path)
