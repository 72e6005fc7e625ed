"""The columnar genotype store and the sort-merge of repeated measurements."""

from __future__ import annotations

import numpy as np
import pytest

from dcellx.data.collect import MeasurementLog
from dcellx.data.genotypes import read_dcell_genotypes
from dcellx.data.store import (
    GenotypeDataset,
    Merged,
    categorical,
    codes_from_tuples,
    merge_measurements,
)
from dcellx.errors import InputError


def test_names_and_codes_give_the_same_dataset() -> None:
    genes = [("A", "B"), ("C",), ("B", "D", "A")]
    by_name = GenotypeDataset(genes, np.arange(3.0), ["v"], "mem")
    codes, vocab = codes_from_tuples(genes)
    by_code = GenotypeDataset(None, np.arange(3.0), ["v"], "mem", codes=codes, vocab=vocab)
    assert by_code.genes == genes == by_name.genes
    assert by_code.codes.dtype == np.int32 and by_code.codes.shape == (3, 3)
    assert by_code.codes[1].tolist() == [2, -1, -1]  # -1 pads at the end
    assert by_code.lengths.tolist() == [2, 1, 3]
    assert by_code.gene_names() == ["A", "B", "C", "D"]
    sub = by_code.subset(np.array([2, 0]))
    assert sub.genes == [("B", "D", "A"), ("A", "B")] and sub.values[:, 0].tolist() == [2.0, 0.0]


def test_meta_is_stored_as_categories_and_read_back_as_strings() -> None:
    col = np.array(["ts", "deletion", "ts", "deletion+ts"])
    ds = GenotypeDataset([("A",), ("B",), ("C",), ("D",)], np.zeros(4), ["v"], "m", meta={"k": col})
    codes, levels = ds.meta_codes["k"]
    assert codes.dtype == np.uint8 and levels.tolist() == ["deletion", "deletion+ts", "ts"]
    assert ds.meta["k"].tolist() == col.tolist()
    assert ds.subset([3, 0]).meta["k"].tolist() == ["deletion+ts", "ts"]
    assert categorical(["x", "x"])[1].tolist() == ["x"]


def test_merge_keeps_first_seen_order_and_gene_sets_in_any_order() -> None:
    codes = np.array([[3, 1], [0, -1], [1, 3], [2, 0], [0, -1], [0, 2]], dtype=np.int32)
    groups = merge_measurements(codes, 4)
    # {1,3} first, then {0}, then {0,2}: rows in the order each set first appears
    assert groups.row.tolist() == [0, 1, 0, 2, 1, 2]
    assert groups.first.tolist() == [0, 1, 3]
    values = np.array([[1.0], [2.0], [4.0], [8.0], [16.0], [8.0]])
    mean, counts = groups.mean(values)
    assert mean[:, 0].tolist() == [2.5, 9.0, 8.0] and counts.tolist() == [2, 2, 2]
    assert groups.differs(values).tolist() == [False, False, True, False, True, False]


def test_merge_of_wide_rows_falls_back_to_byte_keys() -> None:
    # (V+1)^k too large for an int64: the sorted rows themselves are the keys
    rng = np.random.default_rng(0)
    base = rng.permutation(1_000_000)[:40].reshape(4, 10).astype(np.int32)
    codes = np.concatenate([base, base[:, ::-1], base[[2]]])
    groups = merge_measurements(codes, 1_000_000)
    assert groups.row.tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 2]


def test_mixed_annotations_join_their_sorted_levels() -> None:
    groups = Merged(np.array([0, 0, 1, 1, 1, 2]), np.array([0, 2, 5]))
    codes, levels = groups.levels(np.array([1, 1, 2, 0, 2, 0]), np.array(["b", "a", "c"]))
    assert levels[codes].tolist() == ["a", "b|c", "b"]


def test_the_sum_of_a_genotype_is_taken_in_file_order(tmp_path) -> None:
    # float addition is not associative: the mean must be the running sum a line reader forms
    vals = [0.1, 0.2, 0.3, 1e16, -1e16, 0.7]
    path = tmp_path / "g.txt"
    path.write_text("".join(f"2 A B {v!r}\n" for v in vals))
    ds = read_dcell_genotypes(path)
    total = 0.0
    for v in vals:
        total += v
    assert ds.values[0, 0] == total / len(vals) and ds.counts.tolist() == [6]


def test_a_log_without_measurements_is_an_input_error(tmp_path) -> None:
    with pytest.raises(InputError, match="no genotypes found"):
        MeasurementLog(tmp_path / "x", "mean").finish(["v"])


def test_the_store_costs_twenty_bytes_a_triple_beyond_its_values() -> None:
    n = 100_000
    codes = np.random.default_rng(1).integers(0, 6000, (n, 3)).astype(np.int32)
    ds = GenotypeDataset(
        None, np.zeros(n), ["v"], "synthetic", codes=codes, vocab=[f"G{i}" for i in range(6000)]
    )
    assert (ds.codes.nbytes + ds.counts.nbytes) / n == 20


def test_a_negative_zero_stays_negative_as_in_a_running_sum(tmp_path) -> None:
    path = tmp_path / "g.txt"
    path.write_text("2 A B -0.0\n2 C D -0.0\n2 D C -0.0\n2 E F -0.0\n2 F E 0.0\n")
    values = read_dcell_genotypes(path).values[:, 0]
    assert np.signbit(values).tolist() == [True, True, False]


@pytest.mark.parametrize("k", [1, 2, 3])
def test_per_block_allele_digits_equal_row_by_row_matching(k: int) -> None:
    """``canonical_types`` + ``genotype_order_types`` (what readers use) against the direct
    matching of each measurement's genes to its genotype's order (``allele_strings``)."""
    from dcellx.data.collect import allele_strings, canonical_types, genotype_order_types

    rng = np.random.default_rng(k)
    sets = np.stack([rng.permutation(50)[:k] for _ in range(40)]).astype(np.int32)
    rows = rng.integers(0, 40, 2000)
    codes = np.stack([rng.permutation(sets[r]) for r in rows]).astype(np.int32)
    if k == 3:  # some doubles padded into the triple width
        codes[:300, 2] = -1
    types = rng.integers(0, 4, codes.shape).astype(np.int8)
    types[codes < 0] = -1
    groups = merge_measurements(codes, 50)
    a_codes, a_levels = genotype_order_types(codes, canonical_types(codes, types), groups)
    b_codes, b_levels = allele_strings(codes, types, groups)
    assert a_levels[a_codes].tolist() == b_levels[b_codes].tolist()
    assert len(set(a_levels.tolist())) >= 4  # every type occurs: the comparison is not empty
