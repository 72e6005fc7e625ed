"""A randomly initialised DCell on the DNA-repair ontology as a simulation teacher."""

from __future__ import annotations

import numpy as np

from dcellx.data.simulate import simulate_genotypes
from dcellx.diagnose.teacher import dcell_teacher


def test_dcell_teacher_is_seeded_and_sees_only_its_genes(onto_dna) -> None:
    genes = onto_dna.gene_ids[:40]
    teach = dcell_teacher("dna-repair", seed=3)
    a = simulate_genotypes(genes, 2, 200, "dcell", 0.0, 0, teacher_fn=teach)
    b = simulate_genotypes(
        genes, 2, 200, "dcell", 0.0, 0, teacher_fn=dcell_teacher("dna-repair", 3)
    )
    assert np.array_equal(a.dataset.values, b.dataset.values)
    y = a.dataset.values[:, 0]
    assert abs(y.mean()) < 1e-6 and abs(y.std() - 1) < 1e-6  # standardised teacher output
    # genes the ontology does not contain leave no trace: an unknown gene = wild type
    wt = teach([("YNOTAGENE",)])
    assert wt.shape == (1,)
