"""A vocabulary in the user's order: read strictly, applied without touching the structure."""

from __future__ import annotations

import numpy as np
import pytest

from dcellx.errors import InputError
from dcellx.nn.deletion import visible_incidences
from dcellx.ontology.compiled import CompiledOntology
from dcellx.ontology.vocabulary import (
    read_vocabulary,
    recipe_vocabulary,
    shuffled_vocabulary,
    with_vocabulary,
)


def two_terms() -> CompiledOntology:
    """T0 = {A, B, C} (3 direct genes) under the root T1 = {D} (1 direct gene)."""
    return CompiledOntology(
        name="two",
        term_ids=["T0", "T1"],
        term_names=["leaf", "root"],
        gene_ids=["A", "B", "C", "D"],
        strata=np.array([0, 1]),
        child_ptr=np.array([0, 0, 1]),
        child_idx=np.array([0]),
        gene_term=np.array([[0, 1, 2, 3], [0, 0, 0, 1]]),
        contained=np.array([3, 4]),
    )


def test_read_vocabulary_keeps_file_order_and_refuses_ambiguity(tmp_path) -> None:
    path = tmp_path / "genes.txt"
    path.write_text("# torchcell order\nYKL067W\n\nYAL001C\n  YBR001W  \n")
    assert read_vocabulary(path) == ["YKL067W", "YAL001C", "YBR001W"]
    path.write_text("YKL067W\nYAL001C\nYKL067W\n")
    with pytest.raises(
        InputError, match=r"genes.txt:3: gene YKL067W listed twice \(first at line 1\)"
    ):
        read_vocabulary(path)
    path.write_text("YKL067W 12\n")
    with pytest.raises(InputError, match=r"genes.txt:1: one gene name a line"):
        read_vocabulary(path)
    path.write_text("# nothing\n")
    with pytest.raises(InputError, match="lists no gene"):
        read_vocabulary(path)
    with pytest.raises(InputError, match="file not found"):
        read_vocabulary(tmp_path / "absent.txt")


def test_the_order_decides_which_deletions_the_guard_lets_through() -> None:
    onto = two_terms()
    # No recorded vocabulary: the position is the gene index, so T0 (n=3) sees A, B, C and the
    # root (n=1) does not see D (position 3).
    assert recipe_vocabulary(onto) == ["A", "B", "C", "D"]
    assert visible_incidences(onto, "torchcell-index-guard").tolist() == [True, True, True, False]
    moved = with_vocabulary(onto, ["D", "X", "C", "A", "B"], "mine")
    assert moved.vocabulary_positions().tolist() == [3, 4, 2, 0]
    # T0 keeps only C (position 2 < 3); D (position 0) is now seen by the root.
    assert visible_incidences(moved, "torchcell-index-guard").tolist() == [False, False, True, True]
    assert moved.content_hash == onto.content_hash and moved.gene_ids == onto.gene_ids
    assert moved.meta["vocabulary"]["without_annotation"] == 1 and "vocabulary" not in onto.meta
    shuffled = shuffled_vocabulary(onto, 0)
    assert sorted(recipe_vocabulary(shuffled)) == ["A", "B", "C", "D"]
    assert recipe_vocabulary(shuffled_vocabulary(onto, 0)) == recipe_vocabulary(shuffled)


def test_a_gene_of_the_build_missing_from_the_vocabulary_is_one_clear_error(tmp_path) -> None:
    with pytest.raises(InputError) as err:
        with_vocabulary(two_terms(), ["A", "C"], "mine", tmp_path / "v.txt")
    assert str(err.value) == (
        f"{tmp_path / 'v.txt'}: 2 of the 4 genes of --go two are not in the vocabulary "
        "(first: B, D); the index guard needs every gene's position"
    )
