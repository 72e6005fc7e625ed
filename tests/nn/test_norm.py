"""``dcellx.nn.norm``: BatchNorm with batch statistics in training and running ones in eval, the
global-batch reducer, LayerNorm per term, and frozen BatchNorm, checked against their formulas
and, inside ``DCell``, on a real DNA-repair batch."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dcellx.nn.config import make_config
from dcellx.nn.dcell import DCell
from dcellx.nn.init import init_term_state
from dcellx.nn.layout import ModelLayout
from dcellx.nn.norm import (
    batch_norm_rows,
    batch_stats_in_use,
    layer_norm_terms,
    set_batch_stat_reducer,
)
from tests.nn.test_equivalence import real_batch

EPS, MOM = 1e-5, 0.1


def _features(B: int = 12, F_: int = 7, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, F_, generator=g, dtype=torch.float64) * 3 + 1
    w = torch.rand(F_, generator=g, dtype=torch.float64) + 0.5
    b = torch.randn(F_, generator=g, dtype=torch.float64)
    rm = torch.randn(F_, generator=g, dtype=torch.float64)
    rv = torch.rand(F_, generator=g, dtype=torch.float64) + 0.1
    return x, w, b, rm, rv


def test_batch_statistics_in_training() -> None:
    x, w, b, rm, rv = _features()
    rm0, rv0 = rm.clone(), rv.clone()
    out = batch_norm_rows(x, rm, rv, w, b, True, MOM, EPS)
    mean, var = x.mean(0), x.var(0, unbiased=False)
    torch.testing.assert_close(out, (x - mean) / torch.sqrt(var + EPS) * w + b)
    # running statistics move towards the batch's, the variance unbiased (B / (B - 1))
    torch.testing.assert_close(rm, (1 - MOM) * rm0 + MOM * mean)
    torch.testing.assert_close(rv, (1 - MOM) * rv0 + MOM * x.var(0, unbiased=True))


def test_running_statistics_in_eval() -> None:
    x, w, b, rm, rv = _features()
    rm0, rv0 = rm.clone(), rv.clone()
    out = batch_norm_rows(x, rm, rv, w, b, False, MOM, EPS)
    torch.testing.assert_close(out, (x - rm0) / torch.sqrt(rv0 + EPS) * w + b)
    assert torch.equal(rm, rm0) and torch.equal(rv, rv0)  # left as they are
    # a single sample is normalised by the running statistics, independently of the others
    one = batch_norm_rows(x[3:4], rm, rv, w, b, False, MOM, EPS)
    torch.testing.assert_close(one, out[3:4])


def test_reducer_normalises_over_the_global_batch() -> None:
    """Two simulated processes, each holding half the batch: with a reducer that adds the other
    half's sums, each half is normalised exactly as the full batch is."""
    x, w, b, rm, rv = _features(B=10)
    full_rm, full_rv = rm.clone(), rv.clone()
    full = batch_norm_rows(x, full_rm, full_rv, w, b, True, MOM, EPS)
    halves = (x[:4], x[4:])
    for mine, other in ((0, 1), (1, 0)):
        o = halves[other]

        def reducer(s, ss, n, o=o):
            return s + o.sum(0), ss + (o * o).sum(0), n + o.shape[0]

        set_batch_stat_reducer(reducer)
        try:
            rm_p, rv_p = rm.clone(), rv.clone()
            out = batch_norm_rows(halves[mine], rm_p, rv_p, w, b, True, MOM, EPS)
        finally:
            set_batch_stat_reducer(None)
        rows = slice(0, 4) if mine == 0 else slice(4, 10)
        torch.testing.assert_close(out, full[rows])
        torch.testing.assert_close(rm_p, full_rm)
        torch.testing.assert_close(rv_p, full_rv)


def test_layer_norm_per_term_equals_layer_norm_of_each_term() -> None:
    g = torch.Generator().manual_seed(1)
    widths = [3, 1, 5, 2]
    N, B = sum(widths), 6
    z = torch.randn(N, B, generator=g, dtype=torch.float64) * 2 - 0.5
    w = torch.rand(N, generator=g, dtype=torch.float64) + 0.5
    b = torch.randn(N, generator=g, dtype=torch.float64)
    term = torch.repeat_interleave(torch.arange(len(widths)), torch.tensor(widths))
    out = layer_norm_terms(z, term, w, b, EPS)
    lo = 0
    for wt in widths:
        rows = slice(lo, lo + wt)
        want = F.layer_norm(z[rows].t(), (wt,), w[rows], b[rows], EPS).t()
        torch.testing.assert_close(out[rows], want)
        lo += wt
    # each term is normalised on its own (term 2 = rows 4..8): a shift of all its inputs leaves
    # it unchanged, a shift of one of them changes it and no other term
    z2 = z.clone()
    z2[4:9] += 10.0
    torch.testing.assert_close(layer_norm_terms(z2, term, w, b, EPS), out)
    z3 = z.clone()
    z3[4] += 10.0
    out3 = layer_norm_terms(z3, term, w, b, EPS)
    assert not torch.allclose(out3[4:9], out[4:9])
    torch.testing.assert_close(out3[:4], out[:4])
    torch.testing.assert_close(out3[9:], out[9:])


def test_batch_stats_in_use() -> None:
    batch = make_config("paper")
    assert batch_stats_in_use(batch, True, torch.tensor(10**6))
    assert not batch_stats_in_use(batch, False, torch.tensor(0))
    frozen = make_config("paper", norm="batch-frozen", bn_freeze_after=2)
    steps = [batch_stats_in_use(frozen, True, torch.tensor(s)) for s in range(4)]
    assert steps == [True, True, False, False]
    assert not batch_stats_in_use(frozen, False, torch.tensor(0))


def _model(onto, **overrides) -> DCell:
    cfg = make_config("paper", **overrides)
    layout = ModelLayout(onto, cfg)
    model = DCell(onto, cfg, layout).double()
    model.load_term_state_dict(init_term_state(layout, 0, dtype=torch.float64))
    return model


@pytest.mark.parametrize("norm", ["batch", "layer"])
def test_states_are_normalised_in_the_model(onto_dna, norm: str) -> None:
    """Paper block O(t) = Norm(tanh(z)), unit scale and zero shift: per neuron over the batch
    (batch) or per sample over each term's neurons (layer), mean 0 and variance var/(var+eps)."""
    model = _model(onto_dna, norm=norm)
    model.trace = []
    batch = real_batch(onto_dna, 16)
    with torch.no_grad():
        model(batch)
    L = model.layout
    for s, _, _, pre, h in model.trace:
        n0, _ = L.strata[s].neurons
        if norm == "batch":
            var = pre.var(1, unbiased=False)
            torch.testing.assert_close(h.mean(1), torch.zeros_like(var), atol=1e-9, rtol=0)
            want = var / (var + EPS)
            torch.testing.assert_close(h.var(1, unbiased=False), want, atol=1e-9, rtol=1e-6)
        else:
            lterm = L.term_of_neuron[n0 : n0 + len(h)] - L.term_of_neuron[n0]
            for j in set(lterm.tolist()):
                rows = h[torch.from_numpy(lterm == j)]
                p = pre[torch.from_numpy(lterm == j)]
                var = p.var(0, unbiased=False)
                torch.testing.assert_close(rows.mean(0), torch.zeros_like(var), atol=1e-9, rtol=0)
                want = var / (var + EPS)
                torch.testing.assert_close(rows.var(0, unbiased=False), want, atol=1e-9, rtol=1e-6)


def test_batch_norm_train_and_eval_in_the_model(onto_dna) -> None:
    """Training forwards update the running statistics and depend on the batch; eval forwards
    read them and compute each sample on its own."""
    model = _model(onto_dna)
    batch = real_batch(onto_dna, 16)
    with torch.no_grad():
        train_root, _ = model(batch)
        assert int(model.norm_steps) == 1
        assert not torch.equal(model.running_mean, torch.zeros_like(model.running_mean))
        model.eval()
        rm = model.running_mean.clone()
        eval_root, _ = model(batch)
        assert torch.equal(model.running_mean, rm) and int(model.norm_steps) == 1
        assert not torch.allclose(train_root, eval_root)
        half = real_batch(onto_dna, 8)
        torch.testing.assert_close(model(half)[0], eval_root[:8])


def test_frozen_batch_norm(onto_dna) -> None:
    """batch-frozen, bn_freeze_after = 2: two training steps of batch statistics, then training
    forwards use the running statistics, leave them alone, and equal eval forwards."""
    model = _model(onto_dna, norm="batch-frozen", bn_freeze_after=2)
    batch = real_batch(onto_dna, 16)
    with torch.no_grad():
        seen = [model.running_var.clone()]
        for _ in range(2):
            model(batch)
            seen.append(model.running_var.clone())
        assert not torch.equal(seen[0], seen[1]) and not torch.equal(seen[1], seen[2])
        root, aux = model(batch)  # third step: frozen
        assert torch.equal(model.running_var, seen[2]) and int(model.norm_steps) == 3
        model.eval()
        eroot, eaux = model(batch)
    assert torch.equal(root, eroot) and torch.equal(aux, eaux)
