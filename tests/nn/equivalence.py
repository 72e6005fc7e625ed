"""Compare the fast engine with the reference loop from one term-named state (float64)."""

from __future__ import annotations

import torch

from dcellx.batch import PerturbationBatch
from dcellx.nn.config import ModelConfig
from dcellx.nn.dcell import DCell
from dcellx.nn.deletion import visible_incidences
from dcellx.nn.init import init_term_state
from dcellx.nn.layout import ModelLayout
from dcellx.nn.loss import dcell_loss
from dcellx.nn.reference import ReferenceDCell
from dcellx.ontology.compiled import CompiledOntology


def rel(a: torch.Tensor, b: torch.Tensor, floor: float = 1e-12) -> float:
    """||a - b|| / ||b||, with an absolute floor for gradients that are zero in exact arithmetic
    (e.g. a bias right before BatchNorm) and come out as rounding noise in both engines."""
    a, b = a.detach(), b.detach()
    return float((a - b).norm() / max(float(b.norm()), floor))


def fast_grads_by_term(fast: DCell) -> dict[str, torch.Tensor]:
    """Gradients of the packed parameters, in term names (params swapped with grads)."""
    saved = [p.detach().clone() for p in fast.parameters()]
    with torch.no_grad():
        for p in fast.parameters():
            p.copy_(p.grad if p.grad is not None else torch.zeros_like(p))
        out = fast.term_state_dict()
        for p, s in zip(fast.parameters(), saved, strict=True):
            p.copy_(s)
    return out


def compare_engines(
    onto: CompiledOntology,
    cfg: ModelConfig,
    batch: PerturbationBatch,
    seed: int = 0,
    steps: int = 2,
) -> dict[str, float]:
    """Worst relative differences of outputs, aux outputs, losses and gradients over ``steps``
    training steps (SGD between them, so running statistics and updated weights are compared)."""
    layout = ModelLayout(onto, cfg)
    state = init_term_state(layout, seed, dtype=torch.float64)
    ref = ReferenceDCell(onto, cfg, layout).double()
    ref.load_state_dict(state)
    fast = DCell(onto, cfg, layout).double()
    fast.load_term_state_dict(state)
    worst = {"root": 0.0, "aux": 0.0, "loss": 0.0, "grad": 0.0, "state": 0.0}
    x = batch.dense(onto.num_genes, torch.float64)
    y = batch.y[:, 0].double()
    for _ in range(steps):
        r_root, r_aux = ref(x)
        f_root, f_aux = fast(batch)
        lr = dcell_loss(r_root, r_aux, y, cfg, l2_params=ref.l2_parameters()).total
        lf = dcell_loss(f_root, f_aux, y, cfg, l2_params=fast.l2_parameters()).total
        worst["root"] = max(worst["root"], rel(f_root, r_root))
        worst["aux"] = max(worst["aux"], rel(f_aux, r_aux))
        worst["loss"] = max(worst["loss"], rel(lf, lr))
        ref.zero_grad()
        fast.zero_grad()
        lr.backward()
        lf.backward()
        gf = fast_grads_by_term(fast)
        grads = {n: p.grad for n, p in ref.named_parameters() if p.grad is not None}
        # exact zeros (e.g. a key bias under softmax) come out as rounding noise: floor the
        # denominator at 1e-7 of the largest gradient (terms whose gradient is 1e-13 of the
        # largest, e.g. under an ill-conditioned BatchNorm, agree only to rounding)
        floor = 1e-7 * max(float(g.norm()) for g in grads.values())
        for name, g in grads.items():
            worst["grad"] = max(worst["grad"], rel(gf[name], g, floor))
        with torch.no_grad():
            for p in list(ref.parameters()) + list(fast.parameters()):
                if p.grad is not None:
                    p -= 1e-3 * p.grad
    fs = fast.term_state_dict()
    for name, v in ref.state_dict().items():
        worst["state"] = max(worst["state"], rel(fs[name].double(), v.double()))
    return worst


def fast_outputs(
    onto: CompiledOntology, cfg: ModelConfig, batch: PerturbationBatch, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(root, aux) of one training-mode forward of the fast engine from the seed's state."""
    layout = ModelLayout(onto, cfg)
    fast = DCell(onto, cfg, layout).double()
    fast.load_term_state_dict(init_term_state(layout, seed, dtype=torch.float64))
    with torch.no_grad():
        return fast(batch)


def deletion_visibility(
    onto: CompiledOntology, rule: str, batch: PerturbationBatch
) -> tuple[int, int]:
    """(visible, hidden): the batch's deleted (sample, incidence) pairs under ``rule``."""
    vis = visible_incidences(onto, rule)
    hit = onto.gene_term[0][None, :] == batch.gene.numpy()[:, None]  # [K, A]
    return int((hit & vis).sum()), int((hit & ~vis).sum())
