"""Shuffled-ontology and shuffled-label controls: seeded and shape-preserving."""

from __future__ import annotations

import numpy as np

from dcellx.data.datasets import load_dataset
from dcellx.ontology.compiled import CompiledOntology
from dcellx.ontology.reach import contained_counts
from dcellx.train.controls import shuffle_labels, shuffle_ontology


def annotations_by_gene(onto: CompiledOntology) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for g, t in onto.gene_term.T.tolist():
        out.setdefault(g, set()).add(t)
    return out


def test_shuffle_ontology_preserves_shape(onto_2017) -> None:
    a = shuffle_ontology(onto_2017, seed=1)
    assert np.array_equal(a.strata, onto_2017.strata)
    assert np.array_equal(a.child_ptr, onto_2017.child_ptr)
    assert np.array_equal(a.child_idx, onto_2017.child_idx)
    assert np.array_equal(a.direct_counts(), onto_2017.direct_counts())
    assert a.term_ids == onto_2017.term_ids and a.gene_ids == onto_2017.gene_ids
    # A gene permutation maps each contained set to one of equal size: recomputed, not copied.
    assert np.array_equal(a.contained, onto_2017.contained)
    assert np.array_equal(contained_counts(a), onto_2017.contained)
    # Sorted by (term, gene), no duplicate annotation.
    key = a.gene_term[1] * a.num_genes + a.gene_term[0]
    assert np.all(np.diff(key) > 0)
    assert a.meta["control"] == "shuffled-ontology" and a.meta["seed"] == 1
    assert a.content_hash != onto_2017.content_hash
    # The annotations really moved: most genes now carry another gene's term set.
    before, after = annotations_by_gene(onto_2017), annotations_by_gene(a)
    assert sum(before[g] != after[g] for g in before) > 0.9 * len(before)
    assert sorted(map(sorted, before.values())) == sorted(map(sorted, after.values()))


def test_shuffle_ontology_is_seeded(onto_dna) -> None:
    a, b, c = (shuffle_ontology(onto_dna, seed=s) for s in (3, 3, 4))
    assert np.array_equal(a.gene_term, b.gene_term) and a.content_hash == b.content_hash
    assert not np.array_equal(a.gene_term, c.gene_term) and a.content_hash != c.content_hash


def test_shuffled_ontology_round_trips(onto_dna, tmp_path) -> None:
    a = shuffle_ontology(onto_dna, seed=7)
    a.save(tmp_path / "s.npz")
    back = CompiledOntology.load(tmp_path / "s.npz")
    assert back.content_hash == a.content_hash and back.meta["seed"] == 7


def test_shuffle_labels() -> None:
    ds = load_dataset("dcell-dna-repair")["train"]
    a, b, c = (shuffle_labels(ds, seed=s) for s in (0, 0, 1))
    assert a.genes == ds.genes
    assert np.array_equal(a.values, b.values) and not np.array_equal(a.values, c.values)
    assert not np.array_equal(a.values, ds.values)
    assert np.array_equal(np.sort(a.values[:, 0]), np.sort(ds.values[:, 0]))
    assert "shuffled" in a.source and ds.values is not a.values
