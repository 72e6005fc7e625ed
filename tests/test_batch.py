"""Perturbation batches built on the sparse structure agree with a dense encoding."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dcellx.batch import NO_GENE, encode_genotypes, make_batch, pair_capacity
from dcellx.data.datasets import load_dataset
from dcellx.data.genotypes import GenotypeDataset
from dcellx.errors import InputError


def test_batch_matches_dense_encoding(onto_2017) -> None:
    ds = load_dataset("dcell-dna-repair")["train"]
    enc = encode_genotypes(ds, onto_2017)
    rows = np.array([5, 0, 17, 3000, 8782])
    b = make_batch(enc, rows)
    x = b.dense(onto_2017.num_genes)
    for i, r in enumerate(rows):
        want = {onto_2017.gene_index[g] for g in ds.genes[r] if g in onto_2017.gene_index}
        assert set(np.nonzero(x[i].numpy())[0].tolist()) == want
    assert np.allclose(b.y.numpy()[:, 0], ds.values[rows, 0])


def test_invisible_genes_counted_or_refused(onto_dna, capsys) -> None:
    known = onto_dna.gene_ids[:2]
    ds = GenotypeDataset(
        [(known[0], "YNOTREAL"), (known[1],)], np.array([[1.0], [2.0]]), ["v"], "mem.txt"
    )
    enc = encode_genotypes(ds, onto_dna)
    (line,) = capsys.readouterr().err.splitlines()  # one warning line, not a UserWarning
    assert line.startswith("warning: mem.txt: 1 gene name(s) in 1 genotypes are not inputs")
    b = make_batch(enc, [0, 1])
    assert b.invisible == 1 and b.gene.tolist() == [0, 1] and b.sample.tolist() == [0, 1]
    with pytest.raises(InputError, match="not in ontology"):
        encode_genotypes(ds, onto_dna, unknown="error")


def test_padded_pairs_perturb_nothing(onto_dna) -> None:
    enc = encode_genotypes(load_dataset("dcell-dna-repair")["train"], onto_dna)
    rows = np.array([3, 9, 1, 40])
    most = pair_capacity(enc, len(rows))
    lens = np.sort(np.diff(enc.ptr))[::-1]
    assert most == int(lens[:4].sum()) and most >= len(make_batch(enc, rows).gene)
    plain, padded = make_batch(enc, rows), make_batch(enc, rows, pairs=most + 2)
    k = len(plain.gene)
    assert len(padded.gene) == most + 2 and (padded.gene[k:] == NO_GENE).all()
    assert (padded.sample[k:] == 0).all() and torch.equal(padded.gene[:k], plain.gene)
    assert torch.equal(padded.dense(onto_dna.num_genes), plain.dense(onto_dna.num_genes))
    with pytest.raises(ValueError, match=f"{k} pairs in the batch, more than the 1"):
        make_batch(enc, rows, pairs=1)
