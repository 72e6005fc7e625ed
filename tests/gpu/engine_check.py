"""The engine on a device against the reference loop on CPU, both float64, from one term-named
state: what ``tests/gpu`` asserts and what ``scripts/gpu_check.py`` reports (test-only code)."""

from __future__ import annotations

import numpy as np
import torch

from dcellx.batch import PerturbationBatch, encode_genotypes, make_batch
from dcellx.data.datasets import load_dataset
from dcellx.data.universe import load_ontology_with_datasets
from dcellx.nn.buckets import PLANS
from dcellx.nn.config import make_config
from dcellx.nn.dcell import DCell
from dcellx.nn.init import init_term_state
from dcellx.nn.layout import ModelLayout
from dcellx.nn.loss import dcell_loss
from dcellx.nn.reference import ReferenceDCell
from dcellx.ontology.compiled import CompiledOntology
from tests.nn.equivalence import fast_grads_by_term, rel


def real_batch(onto: CompiledOntology, n: int = 64) -> PerturbationBatch:
    """The first ``n`` real DNA-repair training genotypes."""
    enc = encode_genotypes(load_dataset("dcell-dna-repair")["train"], onto, unknown="ignore")
    return make_batch(enc, np.arange(n))


def engine_vs_reference(
    go: str, preset: str, plan: str, device: str, steps: int = 2, batch_size: int = 64
) -> dict[str, float]:
    """Worst differences between the engine on ``device`` and the reference loop on CPU over
    ``steps`` training steps (SGD between them): ``max_abs`` over outputs, aux outputs, loss and
    every gradient, ``max_rel`` the worst relative norm difference (``rel``; gradients floored
    at 1e-7 of the largest, as in ``tests/nn/equivalence.py``)."""
    dev = torch.device(device)
    onto = load_ontology_with_datasets(go)
    cfg = make_config(preset)
    layout = ModelLayout(onto, cfg, PLANS[plan])
    state = init_term_state(layout, 0, dtype=torch.float64)
    ref = ReferenceDCell(onto, cfg, layout).double()
    ref.load_state_dict(state)
    fast = DCell(onto, cfg, layout).double().to(dev)
    fast.load_term_state_dict(state)
    batch = real_batch(onto, batch_size)
    x, y = batch.dense(onto.num_genes, torch.float64), batch.y[:, 0].double()
    gb, gy = batch.to(dev), y.to(dev)
    worst = {"max_abs": 0.0, "max_rel": 0.0}

    def seen(a: torch.Tensor, b: torch.Tensor, floor: float = 1e-12) -> None:
        a = a.detach().cpu()
        worst["max_abs"] = max(worst["max_abs"], float((a - b.detach()).abs().max()))
        worst["max_rel"] = max(worst["max_rel"], rel(a, b, floor))

    for _ in range(steps):
        r_root, r_aux = ref(x)
        f_root, f_aux = fast(gb)
        lr = dcell_loss(r_root, r_aux, y, cfg, l2_params=ref.l2_parameters()).total
        lf = dcell_loss(f_root, f_aux, gy, cfg, l2_params=fast.l2_parameters()).total
        seen(f_root, r_root)
        seen(f_aux, r_aux)
        seen(lf, lr)
        ref.zero_grad()
        fast.zero_grad()
        lr.backward()
        lf.backward()
        gf = fast_grads_by_term(fast)
        grads = {n: p.grad for n, p in ref.named_parameters() if p.grad is not None}
        floor = 1e-7 * max(float(g.norm()) for g in grads.values())
        for name, g in grads.items():
            seen(gf[name], g, floor)
        with torch.no_grad():
            for p in [*ref.parameters(), *fast.parameters()]:
                if p.grad is not None:
                    p -= 1e-3 * p.grad
    return worst
