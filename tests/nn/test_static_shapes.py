"""The static-shape gene path (pairs padded to ``pair_capacity``, gene entries to
``set_entry_capacity``) and the segment-sum scatter-adds (``dcellx.nn.ops``, what CUDA runs)
compute the function of the default CPU path: bitwise for the padding (it adds exact zeros),
to 1e-10 in float64 for the segment sums (a run's sum is formed before it is added), on real
DNA-repair batches and on random batches deleting many genes, and both agree with the reference
loop. Two steps from one state give bitwise equal gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dcellx.batch import NO_GENE, PerturbationBatch, encode_genotypes, make_batch, pair_capacity
from dcellx.data.datasets import load_dataset
from dcellx.nn.config import make_config
from dcellx.nn.dcell import DCell
from dcellx.nn.init import init_term_state
from dcellx.nn.layout import ModelLayout
from dcellx.nn.loss import dcell_loss
from dcellx.nn.ops import SegmentPlan, add_at_, index_add, segment_sums, take
from tests.nn.equivalence import compare_engines
from tests.nn.test_equivalence import TOL, random_batch

CONFIGS = [
    ("paper", {}),
    ("paper", {"gene_state": "present-one"}),
    ("torchcell", {}),
    ("dcell-new", {"root_extra_input": "constant-one"}),
    ("lua", {}),
    ("lua", {"gene_state": "present-one"}),
    ("lua-released", {}),
    ("paper", {"variant": "embedding", "embedding_dim": 4}),
    ("paper", {"variant": "embedding-pooled", "embedding_dim": 4}),
    ("paper", {"variant": "embedding-attention", "embedding_dim": 4, "attention_heads": 2}),
    ("paper", {"norm": "layer"}),
    ("paper", {"depth": 2}),
]
IDS = [f"{p}-{','.join(f'{k}={v}' for k, v in kw.items())}" for p, kw in CONFIGS]


@pytest.fixture(scope="module")
def enc(onto_dna):
    return encode_genotypes(load_dataset("dcell-dna-repair")["train"], onto_dna)


def _model(onto, preset: str, kw: dict, engine: str = "fused") -> DCell:
    cfg = make_config(preset, **kw)
    layout = ModelLayout(onto, cfg)
    model = DCell(onto, cfg, layout, engine).double()
    model.load_term_state_dict(init_term_state(layout, 0, dtype=torch.float64))
    return model


def _steps(model: DCell, batch, n: int = 2) -> list[torch.Tensor]:
    """Outputs and every gradient of ``n`` training steps (SGD between them), flattened."""
    out = []
    for _ in range(n):
        model.zero_grad(set_to_none=True)
        root, aux = model(batch)
        y = batch.y[:, 0].double()
        dcell_loss(root, aux, y, model.cfg, l2_params=model.l2_parameters()).total.backward()
        out += [root.detach().clone(), aux.detach().clone()]
        with torch.no_grad():
            for p in model.parameters():
                if p.grad is not None:
                    out.append(p.grad.clone())
                    p -= 1e-3 * p.grad
    return out


def _batches(onto, enc, model: DCell, padded: bool) -> list:
    """A real DNA-repair batch and a random one (40 genes per genotype: several deletions of
    one sample in one term, genes shared across samples), each with the entry capacities to
    set (None: unpadded); padded, the pairs get (row 0, NO_GENE) pairs at their end."""
    real = make_batch(enc, np.arange(16), pairs=pair_capacity(enc, 16) + 3 if padded else None)
    rand = random_batch(onto, B=6, k=40, seed=1)
    if not padded:
        return [(real, None), (rand, None)]
    # the random batch is not from enc: its capacities are its own counts plus 0..S-1
    counts = model.genes.elem_counts
    own = counts[rand.gene.numpy()].sum(0) + np.arange(counts.shape[1])
    rand = PerturbationBatch(
        6,
        torch.cat([rand.sample, torch.zeros(5, dtype=torch.long)]),
        torch.cat([rand.gene, torch.full((5,), NO_GENE, dtype=torch.long)]),
        rand.y,
        rand.rows,
        0,
    )
    return [(real, model.genes.entry_capacity_for(enc, 16)), (rand, own)]


@pytest.mark.parametrize("engine", ["fused", "autograd"])
@pytest.mark.parametrize("preset,kw", CONFIGS, ids=IDS)
def test_static_shapes_and_segment_sums_equal_the_cpu_path(onto_dna, enc, preset, kw, engine):
    plain = _model(onto_dna, preset, kw, engine)
    want = [_steps(plain, b) for b, _ in _batches(onto_dna, enc, plain, padded=False)]
    term_vectors = kw.get("variant", "binary").startswith("embedding-")
    for segments in (False, True):
        model = _model(onto_dna, preset, kw, engine)
        got = []
        with segment_sums(segments):
            for b, caps in _batches(onto_dna, enc, model, padded=not term_vectors):
                model.genes.set_entry_capacity(caps)
                got.append(_steps(model, b))
        for g_batch, w_batch in zip(got, want, strict=True):
            # a gradient that is 0 in exact arithmetic (a bias before BatchNorm) is rounding
            # noise on both paths: its scale is floored at 1e-4 of the step's largest value
            top = max(float(w.abs().max()) for w in w_batch)
            for g, w in zip(g_batch, w_batch, strict=True):
                if segments:
                    scale = max(float(w.abs().max()), 1e-4 * top)
                    assert float((g - w).abs().max()) <= 1e-10 * scale
                else:  # padding adds exact zeros: the same numbers
                    assert torch.equal(g, w)


@pytest.mark.parametrize("preset,kw", CONFIGS[:8], ids=IDS[:8])
def test_segment_sums_equal_the_reference_loop(onto_dna, enc, preset, kw) -> None:
    cfg = make_config(preset, **kw)
    with segment_sums():
        worst = compare_engines(onto_dna, cfg, make_batch(enc, np.arange(16)))
    assert all(v <= TOL for v in worst.values()), worst


@pytest.mark.parametrize("engine", ["fused", "autograd"])
def test_two_steps_from_one_state_are_bitwise_equal(onto_dna, enc, engine) -> None:
    runs = []
    for _ in range(2):
        model = _model(onto_dna, "paper", {}, engine)
        with segment_sums():
            runs.append(_steps(model, make_batch(enc, np.arange(64)), n=3))
    assert all(torch.equal(a, b) for a, b in zip(*runs, strict=True))


def test_capacities_bound_every_batch_and_pad_exactly(onto_dna, enc) -> None:
    model = _model(onto_dna, "paper", {})
    B = 32
    pairs = model.set_static_shapes(enc, B)
    caps = model.genes.entry_capacity
    rng = np.random.default_rng(0)
    counts = model.genes.elem_counts
    for _ in range(50):
        rows = rng.choice(len(enc), B, replace=False)
        b = make_batch(enc, rows, pairs=pairs)
        assert len(b.gene) == pairs
        real = b.gene.numpy()[b.gene.numpy() != NO_GENE]
        assert (counts[real].sum(0) <= caps).all()
        entries = model.genes._perturbed_elements(b)
        assert entries.ptr == [0, *np.cumsum(caps).tolist()]
        assert int(entries.live.sum()) == int(counts[real].sum())
    with pytest.raises(ValueError, match="more than the 1 it is padded to"):
        make_batch(enc, np.arange(B), pairs=1)


def test_segment_scatter_add_is_index_add() -> None:
    g = torch.Generator().manual_seed(0)
    index = torch.randint(0, 9, (200,), generator=g)
    src = torch.randn(200, 3, generator=g, dtype=torch.float64)
    want = torch.zeros(9, 3, dtype=torch.float64).index_add_(0, index, src)
    with segment_sums():
        got = add_at_(torch.zeros(9, 3, dtype=torch.float64), index, src)
        planned = add_at_(torch.zeros(9, 3, dtype=torch.float64), index, src,
                          SegmentPlan.of(index.numpy()))  # fmt: skip
        keep = index.numpy() != 4  # a plan may leave a target out
        dropped = add_at_(torch.zeros(9, 3, dtype=torch.float64), index, src,
                          SegmentPlan.of(index.numpy(), keep))  # fmt: skip
    assert torch.equal(got, want) and torch.equal(planned, want)  # from zero: the same order
    assert torch.equal(dropped[4], torch.zeros(3, dtype=torch.float64))
    assert torch.equal(dropped[:4], want[:4]) and torch.equal(dropped[5:], want[5:])


def test_segment_take_and_index_add_differentiate_like_torch() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(7, 2, generator=g, dtype=torch.float64, requires_grad=True)
    idx = torch.tensor([[0, 6, 6], [2, 0, 1]])
    up = torch.randn(2, 3, 2, generator=g, dtype=torch.float64)
    (want,) = torch.autograd.grad((x[idx] * up).sum(), x)
    out = torch.zeros(4, 2, dtype=torch.float64, requires_grad=True)
    lin = torch.tensor([3, 1, 3, 3, 0, 1])
    w_out, w_x = torch.autograd.grad((out.index_add(0, lin, x[:6]) ** 2).sum(), (out, x))
    with segment_sums():
        (got,) = torch.autograd.grad((take(x, idx) * up).sum(), x)
        g_out, g_x = torch.autograd.grad((index_add(out, lin, x[:6]) ** 2).sum(), (out, x))
    assert torch.allclose(got, want, rtol=0, atol=1e-15)
    assert torch.allclose(g_out, w_out, rtol=1e-15) and torch.allclose(g_x, w_x, rtol=1e-15)


def test_the_capacities_sit_on_the_model_device_and_keep_their_memory(onto_dna, enc) -> None:
    model = _model(onto_dna, "paper", {}).to("meta")
    model.set_static_shapes(enc, 16)
    t = model.genes.entry_capacity_t
    assert t.device.type == "meta"
    model.genes.set_entry_capacity(None)
    model.set_static_shapes(enc, 16)
    assert model.genes.entry_capacity_t is t  # rewritten in place: a graph reads the same memory
