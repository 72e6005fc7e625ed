"""``GeneInput``: every variant's sparse gene contribution equals the dense computation of its
definition (the ``dcellx.nn.layout`` table) from the term-named weights, on real DNA-repair
genotypes and on a batch deleting many genes at once (several deletions in one term)."""

from __future__ import annotations

import math

import pytest
import torch

from dcellx.batch import PerturbationBatch
from dcellx.nn.config import VARIANTS, ModelConfig, make_config
from dcellx.nn.dcell import DCell
from dcellx.nn.genes import GENE_INPUTS, GeneContribution, gene_input_kind
from dcellx.nn.init import init_term_state
from dcellx.nn.layout import ModelLayout
from tests.nn.test_equivalence import random_batch, real_batch

CASES = [(v, "disrupted-one") for v in VARIANTS] + [("binary", "present-one")]
CASES += [("masked-layer", s) for s in ("disrupted-one", "present-one")]
CASES += [("dense-layer", s) for s in ("disrupted-one", "present-one")]


def _model(onto, variant: str, gene_state: str) -> DCell:
    if variant in ("masked-layer", "dense-layer"):
        cfg = make_config("paper", gene_layer=variant, gene_state=gene_state)
    else:
        cfg = make_config("paper", variant=variant, gene_state=gene_state, embedding_dim=4)
    layout = ModelLayout(onto, cfg)
    model = DCell(onto, cfg, layout).double()
    model.load_term_state_dict(init_term_state(layout, 3, dtype=torch.float64))
    return model


def _dense(contribution: GeneContribution, N: int, B: int) -> torch.Tensor:
    """[N, B]: base on every sample plus the sparse (neuron, sample, value) entries."""
    out = torch.zeros(N, B, dtype=torch.float64)
    if contribution.base is not None:
        out += contribution.base.unsqueeze(1)
    out.index_put_((contribution.neuron, contribution.sample), contribution.value, accumulate=True)
    return out


def _attention(model: DCell, E: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Self-attention among a term's present genes, summed over the present queries: [d]."""
    H = model.cfg.attention_heads
    d = E.shape[1]
    dh = d // H
    if not present.any():
        return E.new_zeros(d)
    Ep = E[present]
    q, k, v = (model.genes.attn[n](Ep).view(-1, H, dh) for n in ("q", "k", "v"))
    att = torch.softmax(torch.einsum("ihc,jhc->hij", q, k) / math.sqrt(dh), dim=-1)
    return torch.einsum("hij,jhc->ihc", att, v).sum(0).flatten()


def dense_gene_input(model: DCell, batch: PerturbationBatch) -> torch.Tensor:
    """The gene part of every neuron's pre-activation (direct variants, [N, B]) or the Lua gene
    layers' output rows ([N_extra, B]), computed term by term from the named state."""
    L, cfg, onto = model.layout, model.cfg, model.onto
    state = model.term_state_dict()
    x = batch.dense(onto.num_genes, torch.float64)  # 1 = disrupted
    bits = 1 - x if cfg.gene_state == "present-one" else x
    s = 1 - x  # the embedding variants: 1 = present
    lua = cfg.gene_layer != "direct"
    out = torch.zeros(L.num_extra if lua else L.num_neurons, batch.size, dtype=torch.float64)
    for t in range(onto.num_terms):
        if not L.direct[t]:
            continue
        tid, w = onto.term_ids[t], int(L.width[t])
        genes = torch.from_numpy(L.inc_gene[L.gene_ptr[t] : L.gene_ptr[t + 1]])
        if lua:
            G, c = state[f"genes.{tid}.weight"], state[f"genes.{tid}.bias"]
            inp = bits[:, genes] if cfg.gene_layer == "masked-layer" else bits
            e0 = int(L.extra_offset[t])
            out[e0 : e0 + w] = G @ inp.t() + c.unsqueeze(1)
            continue
        c0 = int(L.child_in[t])
        Wg = state[f"terms.{tid}.weight"][:, c0 : c0 + int(L.gene_in[t])]
        if cfg.variant != "binary":
            E = state["gene_embedding.weight"][genes]  # [n, d]
        if cfg.variant == "binary":
            block = bits[:, genes]
        elif cfg.variant == "embedding":
            block = (s[:, genes].unsqueeze(-1) * E).flatten(1)
        elif cfg.variant == "embedding-pooled":
            block = s[:, genes] @ E
        elif cfg.variant == "embedding-deepset":
            block = model.genes.rho(s[:, genes] @ model.genes.phi(E))
        else:
            block = torch.stack([_attention(model, E, s[b, genes] > 0.5) for b in range(len(s))])
        lo = int(L.offset[t])
        out[lo : lo + w] = Wg @ block.t()
    return out


@pytest.mark.parametrize(("variant", "gene_state"), CASES, ids=[f"{v}-{s}" for v, s in CASES])
@pytest.mark.parametrize("which", ["real", "many-deletions"])
def test_gene_input_equals_dense_definition(onto_dna, variant, gene_state, which) -> None:
    model = _model(onto_dna, variant, gene_state)
    if which == "real":
        batch = real_batch(onto_dna, 16)
    else:
        batch = random_batch(onto_dna, 6, 40, seed=1)
    with torch.no_grad():
        got = model.genes(batch)
        want = dense_gene_input(model, batch)
    if isinstance(got, GeneContribution):
        S = onto_dna.num_strata
        assert len(got.ptr) == S + 1 and got.ptr[-1] == len(got.value)
        # entries grouped by stratum, as the engine consumes them
        for s in range(S):
            n0, n1 = model.layout.strata[s].neurons
            part = got.neuron[got.ptr[s] : got.ptr[s + 1]]
            assert ((part >= n0) & (part < n1)).all()
        got = _dense(got, model.layout.num_neurons, batch.size)
    assert got.shape == want.shape
    assert want.abs().max() > 0 and (want != want[:, :1]).any()  # varies with the genotype
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_wild_type_gets_the_base_only(onto_dna) -> None:
    """A batch without any deletion: binary disrupted-one contributes nothing; present-one
    contributes every direct gene's column sum, the same for every sample."""
    empty = PerturbationBatch(
        3,
        torch.zeros(0, dtype=torch.long),
        torch.zeros(0, dtype=torch.long),
        torch.zeros(3, 1),
        torch.arange(3),
        0,
    )
    with torch.no_grad():
        off = _model(onto_dna, "binary", "disrupted-one").genes(empty)
        assert off.base is None and len(off.value) == 0
        model = _model(onto_dna, "binary", "present-one")
        model_out = model.genes(empty)
        assert len(model_out.value) == 0
        torch.testing.assert_close(
            _dense(model_out, model.layout.num_neurons, 3), dense_gene_input(model, empty)
        )


GENE_LAYERS = ModelConfig.model_fields["gene_layer"].annotation.__args__


def test_every_configurable_gene_input_is_registered() -> None:
    """Each variant and each Lua gene layer ``ModelConfig`` accepts names a registered kind."""
    wanted = set(VARIANTS) | {g for g in GENE_LAYERS if g != "direct"}
    assert set(GENE_INPUTS) == wanted
    assert all(cls.kind == name for name, cls in GENE_INPUTS.items())


@pytest.mark.parametrize(("variant", "gene_state"), CASES, ids=[f"{v}-{s}" for v, s in CASES])
def test_term_state_round_trips_through_the_gene_input(onto_dna, variant, gene_state) -> None:
    """A seeded term-named state loaded into a model comes back unchanged, gene tensors
    included; the model's gene input is the registered kind of its configuration."""
    model = _model(onto_dna, variant, gene_state)
    assert type(model.genes) is GENE_INPUTS[gene_input_kind(model.cfg)]
    want = init_term_state(model.layout, 3, dtype=torch.float64)
    got = model.term_state_dict()
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert torch.equal(got[key], value), key


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v.startswith("embedding")])
def test_a_fixed_embedding_keeps_its_seeded_values_while_the_rest_trains(onto_dna, variant) -> None:
    """``embedding_learned=False``: e_g is the seeded draw (scaled by ``embedding_init_std``),
    gets no gradient and no L2 penalty, while the term weights still learn."""
    cfg = make_config("paper", variant=variant, embedding_dim=4, embedding_learned=False,
                      embedding_init_std=0.5)  # fmt: skip
    layout = ModelLayout(onto_dna, cfg)
    model = DCell(onto_dna, cfg, layout).double()
    model.load_term_state_dict(init_term_state(layout, 3, dtype=torch.float64))
    learned = make_config("paper", variant=variant, embedding_dim=4, embedding_init_std=0.5)
    drawn = init_term_state(ModelLayout(onto_dna, learned), 3, dtype=torch.float64)
    torch.testing.assert_close(
        model.genes.embedding, drawn["gene_embedding.weight"], rtol=0, atol=0
    )
    unit = init_term_state(ModelLayout(onto_dna, make_config("paper", variant=variant,
                           embedding_dim=4)), 3, dtype=torch.float64)  # fmt: skip
    torch.testing.assert_close(drawn["gene_embedding.weight"], 0.5 * unit["gene_embedding.weight"])
    assert all(p is not model.genes.embedding for p in model.genes.l2_parameters())
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    batch = real_batch(onto_dna, 16)
    root = model(batch)[0]
    (root**2).sum().backward()
    opt.step()
    assert model.genes.embedding.grad is None
    assert torch.equal(model.genes.embedding, before["genes.embedding"])
    moved = [n for n, p in model.named_parameters() if not torch.equal(p, before[n])]
    assert moved and "genes.embedding" not in moved
