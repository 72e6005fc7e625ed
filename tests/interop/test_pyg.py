"""``dcellx.interop.pyg`` on real builds and the real DNA-repair genotypes: the graph's layout
against the compiled build, and the states its processor writes against dcellx's own view of each
genotype (``effective_deletions`` of ``dcellx.nn.deletion``) under both deletion rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dcellx.batch import EncodedGenotypes, encode_genotypes, make_batch
from dcellx.data.datasets import load_dataset
from dcellx.errors import ConfigError
from dcellx.interop.pyg import CHILD_OF, GO, HAS_ANNOTATION, DeletionProcessor, to_heterodata
from dcellx.nn.deletion import effective_deletions, visible_incidences
from dcellx.ontology.compiled import CompiledOntology
from tests.conftest import compiled

GUARD = "torchcell-index-guard"
# (build, rule): the two DCell builds with the exact rule, torchcell's build with both
CASES = [("dna-repair", "exact"), ("2017", "exact"), ("torchcell-2017", GUARD)]
CASES += [("torchcell-2017", "exact")]


def encoded(onto: CompiledOntology) -> list[EncodedGenotypes]:
    """Both files of the DNA-repair data (8,783 training and 2,868 test genotypes)."""
    files = load_dataset("dcell-dna-repair")
    return [encode_genotypes(files[s], onto, unknown="ignore") for s in ("train", "test")]


def test_graph_is_the_compiled_build() -> None:
    onto = compiled("torchcell-2017")  # a recorded vocabulary: gene nodes are its positions
    g = to_heterodata(onto)
    vocab = onto.meta["vocabulary"]["genes"]
    assert g["gene"].num_nodes == len(vocab) == 6629 and onto.num_genes == 5762
    assert g.content_hash == onto.content_hash
    go, (term, node) = g[GO], g[GO].term_gene_mapping.t()
    assert go.num_nodes == onto.num_terms == 1735
    # row i is annotation i: the same term, and a gene node holding the same gene
    assert term.tolist() == onto.gene_term[1].tolist()
    names = [g["gene"].node_ids[i] for i in node.tolist()]
    assert names == [onto.gene_ids[i] for i in onto.gene_term[0]]
    assert (g[HAS_ANNOTATION].edge_index == torch.stack([node, term])).all()
    assert go.mutant_state.shape == (26783, 3) and go.go_gene_strata_state.shape == (26783, 4)
    assert (go.mutant_state[:, :2] == go.term_gene_mapping).all()
    assert (go.mutant_state[:, 2] == 1).all() and (go.go_gene_strata_state[:, 3] == 1).all()
    assert (go.go_gene_strata_state[:, 2] == go.strata[term]).all()
    # edges child -> parent, each once; torchcell's strata: root 0, every child below its parent
    child, parent = g[CHILD_OF].edge_index
    want = {(int(c), t) for t in range(onto.num_terms) for c in onto.children(t)}
    assert set(zip(child.tolist(), parent.tolist(), strict=True)) == want
    assert len(want) == child.numel()
    assert go.strata[onto.root] == 0 and (go.strata[child] > go.strata[parent]).all()
    assert (go.term_gene_counts == torch.from_numpy(onto.direct_counts())).all()
    dna = to_heterodata(compiled("dna-repair"))  # no vocabulary: the build's own genes
    assert dna["gene"].node_ids == compiled("dna-repair").gene_ids


@pytest.mark.parametrize(("go", "rule"), CASES)
def test_states_are_dcellx_effective_inputs(go: str, rule: str) -> None:
    """Every DNA-repair genotype, 512 at a time: the state column the processor writes is 0
    exactly on the annotations dcellx's model sees deleted (the dense formula x_bg v(g, t))."""
    onto = compiled(go)
    proc = DeletionProcessor(to_heterodata(onto), rule)
    visible = torch.from_numpy(visible_incidences(onto, rule))
    node_of = torch.from_numpy(onto.vocabulary_positions())
    deleted = 0
    for enc in encoded(onto):
        for start in range(0, len(enc), 512):
            b = make_batch(enc, np.arange(start, min(start + 512, len(enc))))
            state = proc.states(b.sample, node_of[b.gene], b.size)
            seen = b.dense(onto.num_genes)[:, onto.gene_term[0]] * visible  # [B, A]
            assert torch.equal(state, 1 - seen)
            deleted += int((state == 0).sum())
    assert deleted > 0
    if rule == GUARD:  # the guard hides most of them: the test tells the two rules apart
        exact = DeletionProcessor(proc.graph, "exact")
        enc = encoded(onto)[0]
        b = make_batch(enc, np.arange(len(enc)))
        assert deleted < int((exact.states(b.sample, node_of[b.gene], b.size) == 0).sum())


@pytest.mark.parametrize(("go", "rule"), CASES)
def test_batch_object_holds_each_genotype(go: str, rule: str) -> None:
    """The collated PyG batch of real genotypes (the first 40 and 40 seeded ones): per sample,
    both state tables, pert_mask and perturbation_indices against the genotype itself."""
    onto = compiled(go)
    graph = to_heterodata(onto)
    proc = DeletionProcessor(graph, rule)
    enc = encoded(onto)[0]
    rows = np.concatenate([np.arange(40), np.random.default_rng(0).choice(len(enc), 40)])
    b = make_batch(enc, rows)
    out = proc.from_batch(b, onto)
    A, N = graph[GO].term_gene_mapping.shape[0], graph["gene"].num_nodes
    assert out.num_graphs == 80
    mutant = out[GO].mutant_state.view(80, A, 3)
    strata = out[GO].go_gene_strata_state.view(80, A, 4)
    assert (out[GO].go_gene_strata_state_ptr == torch.arange(81) * A).all()
    assert (out[GO].mutant_state_batch == torch.arange(80).repeat_interleave(A)).all()
    assert (mutant[:, :, :2] == graph[GO].mutant_state[:, :2]).all()
    assert (strata[:, :, :3] == graph[GO].go_gene_strata_state[:, :3]).all()
    pert = out["gene"].pert_mask.view(80, N)
    node_of = onto.vocabulary_positions()
    for i in range(80):
        genes = b.gene[b.sample == i].numpy()
        want = torch.ones(A)
        want[effective_deletions(onto, genes, rule)] = 0
        assert torch.equal(mutant[i, :, 2], want) and torch.equal(strata[i, :, 3], want)
        nodes = sorted(node_of[genes].tolist())
        assert torch.nonzero(pert[i]).flatten().tolist() == nodes
    assert out["gene"].perturbation_indices.tolist() == [
        n for i in range(80) for n in sorted(node_of[b.gene[b.sample == i].numpy()].tolist())
    ]
    assert torch.equal(out["gene"].phenotype_values, b.y.flatten())
    assert (out["gene"].batch == torch.arange(80).repeat_interleave(N)).all()


def test_names_nodes_and_dcellx_batches_agree() -> None:
    onto = compiled("dna-repair")
    proc = DeletionProcessor(to_heterodata(onto))
    enc = encoded(onto)[0]
    b = make_batch(enc, [0, 1, 2])
    genotypes = [b.gene[b.sample == i].tolist() for i in range(3)]
    names = [[onto.gene_ids[g] for g in gs] for gs in genotypes]
    by_batch = proc.from_batch(b, onto)
    by_nodes, by_names = proc.collate(genotypes), proc.collate(names, b.y)
    for key in ("mutant_state", "go_gene_strata_state"):
        assert torch.equal(by_batch[GO][key], by_nodes[GO][key])
        assert torch.equal(by_batch[GO][key], by_names[GO][key])
    one = proc.process(names[1])
    assert torch.equal(one[GO].mutant_state, by_batch[GO].mutant_state.view(3, -1, 3)[1])
    assert torch.equal(one["gene"].pert_mask, by_batch["gene"].pert_mask.view(3, -1)[1])
    wild = proc.process([])
    assert (wild[GO].mutant_state[:, 2] == 1).all() and not wild["gene"].pert_mask.any()


def test_refusals() -> None:
    onto = compiled("dna-repair")
    proc = DeletionProcessor(to_heterodata(onto))
    with pytest.raises(ConfigError, match="'YNOTREAL'"):
        proc.process(["YNOTREAL"])
    with pytest.raises(ConfigError, match="gene node 162 is not in 0..161"):
        proc.process([0, 162])
    with pytest.raises(ConfigError, match="deletion rule must be one of"):
        DeletionProcessor(proc.graph, "nearly-exact")
    other = compiled("2017")
    b = make_batch(encoded(other)[0], [0, 1])
    with pytest.raises(ConfigError, match="the batch is over ontology '2017'"):
        proc.from_batch(b, other)
