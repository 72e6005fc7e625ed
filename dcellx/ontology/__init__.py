"""Ontology layer (1): read GO and annotations, apply DCell's filters, compile a sparse structure.

Data flow: ``obo``/``annotations``/``topology`` readers -> ``OntologyGraph`` -> ``filters`` ->
``compiled.CompiledOntology`` (arrays only, hashable, cacheable) -> ``build`` ties it to a recipe.
``reach``: which terms each gene reaches; ``cache``: the check behind ``dcellx data verify``.
"""

from dcellx.ontology.compiled import CompiledOntology

__all__ = ["CompiledOntology"]
