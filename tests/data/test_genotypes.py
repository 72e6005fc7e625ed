"""Genotype readers on the real DCell files and on small hand-made inputs."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from dcellx.data import (
    GenotypeDataset,
    load_dataset,
    load_genotypes,
    read_dcell_genotypes,
    read_genotype_table,
    write_dcell_genotypes,
)
from dcellx.errors import DataFileMissing, InputError

TRAIN_PATH = "dcell/GO_0006281_training_data_2016_0"


def _write(tmp_path: Path, text: str, name: str = "g.txt") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_real_training_file_loads(shared_data: Path) -> None:
    """(Its speed, target <= 0.5 s, is ``dcell_file_load_s`` in benchmarks/bench_ontology.py.)"""
    path = shared_data / TRAIN_PATH
    ds = read_dcell_genotypes(path)
    assert len(ds) == 8783 and ds.values.shape == (8783, 1) and ds.values.dtype == np.float64
    assert ds.phenotypes == ["value"] and ds.source == str(path)
    assert ds.genes[0] == ("YLR035C", "YML060W") and ds.values[0, 0] == 0.0447
    assert ds.counts.dtype == np.int64 and (ds.counts == 1).all()
    assert all(len(g) == 2 for g in ds.genes)


def test_named_dataset_has_disjoint_real_splits() -> None:
    splits = load_dataset("dcell-dna-repair")
    assert {k: len(v) for k, v in splits.items()} == {"train": 8783, "test": 2868}
    train = {frozenset(g) for g in splits["train"].genes}
    assert not train & {frozenset(g) for g in splits["test"].genes}


def test_dataset_from_a_name_or_a_path(shared_data: Path) -> None:
    assert len(load_genotypes("dcell-dna-repair-test")) == 2868
    only = load_dataset(str(shared_data / TRAIN_PATH))
    assert list(only) == ["train"] and len(only["train"]) == 8783
    with pytest.raises(DataFileMissing):
        load_genotypes("no/such/file.txt")


def test_comments_and_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    path = _write(tmp_path, "# simulator header\n\n1 YAL001C 0.5\n3 YAL002W YAL003W YAL004W -1\n")
    ds = read_dcell_genotypes(path)
    assert ds.genes == [("YAL001C",), ("YAL002W", "YAL003W", "YAL004W")]
    assert ds.values[:, 0].tolist() == [0.5, -1.0]
    with pytest.raises(InputError) as err:
        read_dcell_genotypes(_write(tmp_path, "# h\n\n1 YAL001C x\n"))
    assert err.value.line == 3


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("1 A 0.1\ntwo A B 0.2\n", 2, "k is not an integer: 'two'"),
        ("1 A 0.1\n2.0 A B 0.2\n", 2, "k is not an integer"),
        ("0 0.2\n", 1, "at least 1"),
        ("1 A 0.1\n\n2 A 0.2\n", 3, "k=2 needs 4 fields"),
        ("2 A B C 0.2\n", 1, "got 5"),
        ("2 A B\n", 1, "got 3"),
        ("2 A B high\n", 1, "value is not a number: 'high'"),
        ("1 A 0.1\n2 A B nan\n", 2, "value is not finite: 'nan'"),
        ("2 A B -inf\n", 1, "not finite"),
        ("2 A A 0.3\n", 1, "listed twice"),
    ],
)
def test_bad_dcell_input_names_file_and_line(
    tmp_path: Path, text: str, line: int, problem: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InputError) as err:
        read_dcell_genotypes(path)
    assert err.value.path == str(path) and err.value.line == line
    assert problem in err.value.problem
    assert str(err.value).startswith(f"{path}:{line}: ")


def test_empty_or_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no genotypes"):
        read_dcell_genotypes(_write(tmp_path, "# only a header\n"))
    with pytest.raises(InputError, match="cannot read"):
        read_dcell_genotypes(tmp_path / "absent")


def test_duplicate_gene_sets_are_averaged(tmp_path: Path) -> None:
    path = _write(tmp_path, "2 A B 1.0\n1 C 5\n2 B A 2.0\n2 A B 6.0\n")
    ds = read_dcell_genotypes(path)
    assert ds.genes == [("A", "B"), ("C",)]  # first-seen order and gene order
    assert ds.values[:, 0].tolist() == [3.0, 5.0] and ds.counts.tolist() == [3, 1]


def test_duplicates_error_only_when_values_differ(tmp_path: Path) -> None:
    same = _write(tmp_path, "2 A B 1.0\n2 B A 1.0\n", "same.txt")
    ds = read_dcell_genotypes(same, duplicates="error")
    assert len(ds) == 1 and ds.counts.tolist() == [2]
    differ = _write(tmp_path, "# h\n2 A B 1.0\n1 C 0\n2 B A 1.5\n", "differ.txt")
    with pytest.raises(InputError, match=r"first on line 2") as err:
        read_dcell_genotypes(differ, duplicates="error")
    assert err.value.path == str(differ) and err.value.line == 4


def test_table_reader_csv_and_tsv(tmp_path: Path) -> None:
    text = "genes,fitness,gi\nYAL001C;YAL002W,0.8,-0.1\nYAL003W,1.0,0\n"
    csv_path = _write(tmp_path, text, "t.csv")
    ds = read_genotype_table(csv_path)
    assert ds.genes == [("YAL001C", "YAL002W"), ("YAL003W",)]
    assert ds.phenotypes == ["fitness", "gi"]
    assert ds.values.tolist() == [[0.8, -0.1], [1.0, 0.0]]
    text = "fitness\tgenes\n0.5\tYAL002W;YAL001C\n0.7\tYAL001C;YAL002W\n"
    tsv_path = _write(tmp_path, text, "t.tsv")
    tsv = load_genotypes(tsv_path)  # sniffed as a table from its header
    assert tsv.phenotypes == ["fitness"] and tsv.genes == [("YAL002W", "YAL001C")]
    assert tsv.values.tolist() == [[pytest.approx(0.6)]] and tsv.counts.tolist() == [2]


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("gene,fitness\nA,1\n", 1, "missing 'genes' column"),
        ("# c\ngenes\nA\n", 2, "no phenotype columns"),
        ("genes,fitness\nA;;B,1\n", 2, "empty gene name"),
        ("genes,fitness\nA,1\n,2\n", 3, "empty gene name"),
        ("genes,fitness\nA,1\nB,abc\n", 3, "column 'fitness' is not a number"),
        ("genes,fitness\nA,nan\n", 2, "not finite"),
        ("genes,fitness\nA,\n", 2, "not a number"),
        ("genes,fitness,gi\nA,1\n", 2, "expected 3 fields, got 2"),
    ],
)
def test_bad_table_input_names_file_and_line(
    tmp_path: Path, text: str, line: int, problem: str
) -> None:
    path = _write(tmp_path, text, "t.csv")
    with pytest.raises(InputError) as err:
        read_genotype_table(path)
    assert err.value.path == str(path) and err.value.line == line
    assert problem in err.value.problem


def test_write_round_trips_with_header(tmp_path: Path, shared_data: Path) -> None:
    real = read_dcell_genotypes(shared_data / TRAIN_PATH).subset(np.arange(50))
    out = tmp_path / "out.txt"
    write_dcell_genotypes(real, out, header="simulated\nseed 3")
    head = out.read_text().splitlines()[:3]
    assert head == ["# simulated", "# seed 3", "2 YLR035C YML060W 0.0447"]
    back = read_dcell_genotypes(out)
    assert back.genes == real.genes and np.array_equal(back.values, real.values)
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_gzipped_input_and_subset(tmp_path: Path) -> None:
    path = tmp_path / "g.txt.gz"
    path.write_bytes(gzip.compress(b"1 A 1\n1 B 2\n1 C 3\n"))
    ds = load_genotypes(path)
    assert isinstance(ds, GenotypeDataset) and len(ds) == 3
    picked = ds.subset(ds.values[:, 0] > 1.5)
    assert picked.genes == [("B",), ("C",)] and picked.counts.tolist() == [1, 1]
    assert ds.subset([2, 0]).values[:, 0].tolist() == [3.0, 1.0]
