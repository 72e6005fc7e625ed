"""Gene inputs of the fast engine, computed on the sparse perturbation list: one module per kind
behind the ``GeneInput`` interface (``base``), chosen by name in ``registry``."""

from dcellx.nn.genes.base import GeneContribution, GeneInput, expand_csr
from dcellx.nn.genes.registry import GENE_INPUTS, gene_input_kind, make_gene_input

__all__ = [
    "GENE_INPUTS",
    "GeneContribution",
    "GeneInput",
    "expand_csr",
    "gene_input_kind",
    "make_gene_input",
]
