"""The diagnose layer (6): what a DCell could fit on a dataset, and what a trained run did.

* ``ceiling``: the identifiability ceiling (genotypes with equal visible inputs are inseparable);
* ``coverage``: which perturbed genes the ontology sees and how far up the hierarchy they reach;
* ``capacity``: parameters and neurons of the paper preset;
* ``teacher``: a randomly initialised DCell as the planted teacher of simulated data.

Which terms a gene reaches is ``dcellx.ontology.reach``; the shuffled controls a run trains on
are ``dcellx.train.controls``.
"""
