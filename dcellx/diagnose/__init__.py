"""Diagnostics that need no trained model: what any DCell model *could* fit on a dataset.

* ``ceiling``: the identifiability ceiling (genotypes with equal visible inputs are inseparable);
* ``coverage``: which perturbed genes the ontology sees and how far up the hierarchy they reach;
* ``capacity``: parameters and neurons of the paper preset;
* ``controls``: shuffled-ontology and shuffled-label controls;
* ``reach``: which terms each gene reaches (shared by coverage and controls).
"""
