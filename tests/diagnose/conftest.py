"""A four-gene, three-term ontology small enough to check every diagnostic by hand."""

from __future__ import annotations

import numpy as np
import pytest

from dcellx.ontology.compiled import CompiledOntology


@pytest.fixture
def tiny_onto() -> CompiledOntology:
    """T0 = {A, B} and T1 = {C} are leaves under the root T2, which holds D directly.

    Contained: T0 2, T1 1, T2 4. Gene indices A=0, B=1, C=2, D=3.
    """
    return CompiledOntology(
        name="tiny",
        term_ids=["T0", "T1", "T2"],
        term_names=["zero", "one", "root"],
        gene_ids=["A", "B", "C", "D"],
        strata=np.array([0, 0, 1]),
        child_ptr=np.array([0, 0, 0, 2]),
        child_idx=np.array([0, 1]),
        gene_term=np.array([[0, 1, 2, 3], [0, 0, 1, 2]]),
        contained=np.array([2, 1, 4]),
    )
