"""Gene-input kinds by name: a new kind is one module of this package plus one line here (and its
name among ``ModelConfig``'s choices)."""

from __future__ import annotations

from dcellx.nn.config import ModelConfig
from dcellx.nn.genes.attention import AttentionGenes
from dcellx.nn.genes.base import GeneInput
from dcellx.nn.genes.binary import BinaryGenes
from dcellx.nn.genes.deepset import DeepSetGenes
from dcellx.nn.genes.dense_layer import DenseLayerGenes
from dcellx.nn.genes.embedding import FlatEmbeddingGenes
from dcellx.nn.genes.masked_layer import MaskedLayerGenes
from dcellx.nn.genes.pooled import PooledGenes
from dcellx.nn.layout import ModelLayout

GENE_INPUTS: dict[str, type[GeneInput]] = {
    cls.kind: cls
    for cls in (
        BinaryGenes,
        FlatEmbeddingGenes,
        PooledGenes,
        DeepSetGenes,
        AttentionGenes,
        MaskedLayerGenes,
        DenseLayerGenes,
    )
}


def gene_input_kind(cfg: ModelConfig) -> str:
    """The kind a configuration asks for: its Lua gene layer, else its variant."""
    return cfg.gene_layer if cfg.gene_layer != "direct" else cfg.variant


def make_gene_input(layout: ModelLayout) -> GeneInput:
    """The gene input of ``layout``'s configuration, its parameters zero."""
    return GENE_INPUTS[gene_input_kind(layout.cfg)](layout)
