"""torchcell 1.8.4's own DCell runs on the objects ``dcellx.interop.pyg`` makes, and computes
what dcellx's engine computes: ``benchmarks/bench_peer.py``'s float64 check (dcellx's state
copied into the peer; one training-mode step of each; root, auxiliary outputs, loss, gradients)
on real DNA-repair genotypes, under the exact rule and, on torchcell's build, the guard."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.bench_peer import TOLERANCE, check
from dcellx.batch import encode_genotypes, make_batch
from dcellx.data.datasets import load_dataset
from dcellx.interop.pyg import GO, DeletionProcessor, to_heterodata
from dcellx.nn.config import make_config
from tests.conftest import compiled

GUARD = "torchcell-index-guard"


@pytest.mark.parametrize(
    ("go", "rule"),
    [
        ("dna-repair", "exact"),
        pytest.param("2017", "exact", marks=pytest.mark.slow),
        pytest.param("torchcell-2017", GUARD, marks=pytest.mark.slow),
    ],
)
def test_torchcell_dcell_on_our_objects_is_dcellx(torchcell_dcell, go: str, rule: str) -> None:
    peer_cls, loss_cls = torchcell_dcell
    onto = compiled(go)
    enc = encode_genotypes(load_dataset("dcell-dna-repair")["train"], onto, unknown="ignore")
    batch = make_batch(enc, np.arange(16))
    graph = to_heterodata(onto)
    cfg = make_config("torchcell", gene_state="present-one", deletion_rule=rule)
    # the rule matters for this batch: its states differ from the exact rule's
    states = DeletionProcessor(graph, rule).from_batch(batch, onto)[GO].mutant_state[:, 2]
    exact = DeletionProcessor(graph).from_batch(batch, onto)[GO].mutant_state[:, 2]
    assert (states == 0).sum() > 0 and ((states != exact).any() == (rule == GUARD))
    out = check(onto, cfg, peer_cls, loss_cls, graph, batch)
    worst = max(out[k] for k in ("root_rel", "aux_rel", "loss_rel", "grad_rel"))
    assert out["pass"] and worst < TOLERANCE, out
