"""``--cuda-graph`` on a CUDA device: steps replayed from captured graphs compute what eager steps
compute (losses and parameters, float32, to rounding: capturable Adam keeps its bias corrections
on the device), one graph per batch shape, captured again when alpha or the learning rate
changed; and an overfit run with the graph gives the metrics of one without. Real DNA-repair
genotypes. Skipped without CUDA (``tests/gpu/conftest.py``)."""

from __future__ import annotations

import pytest
import torch

from dcellx.train import make_run_config, run
from dcellx.train.context import build_training
from dcellx.train.cuda_graph import GraphedLocal
from dcellx.train.data import load_run_data
from dcellx.train.world import Local
from tests.train.conftest import metrics_without_seconds, only_run

pytestmark = pytest.mark.gpu
CUDA = torch.device("cuda")


def _cfg(**kw):
    fields = dict(mode="overfit", go="dna-repair", seed=0, device="cuda", quiet=True)
    return make_run_config(**{**fields, **kw})


def test_replayed_steps_compute_the_eager_steps() -> None:
    eager_cfg, graph_cfg = _cfg(), _cfg(cuda_graph=True)
    data = load_run_data(eager_cfg)
    rows = data.train.rows
    big = data.train.batch(rows[:32]).to(CUDA)
    small = data.train.batch(rows[:16]).to(CUDA)
    eager_model, eager_opt, _ = build_training(eager_cfg, data, CUDA)
    graph_model, graph_opt, _ = build_training(graph_cfg, data, CUDA)
    eager, graphed = Local(), GraphedLocal()
    mcfg = eager_cfg.model
    plan = [(big, 0.3), (big, 0.3), (big, 0.3), (small, 0.3), (small, 0.3), (big, 0.3)]
    plan += [(small, 0.3), (big, 0.1), (big, 0.1)]  # alpha changed: the big graph again
    for batch, alpha in plan:
        l2e, l2g = eager_model.l2_parameters(), graph_model.l2_parameters()
        root_e, loss_e = eager.step(eager_model, eager_opt, batch, batch.size, mcfg, alpha, l2e)
        root_g, loss_g = graphed.step(graph_model, graph_opt, batch, batch.size, mcfg, alpha, l2g)
        torch.testing.assert_close(loss_g, loss_e, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(root_g, root_e, rtol=1e-4, atol=1e-5)
    assert len(graphed.graphs) == 2 and graphed.captures == 3
    for p_g, p_e in zip(graph_model.parameters(), eager_model.parameters(), strict=True):
        torch.testing.assert_close(p_g, p_e, rtol=1e-4, atol=1e-6)
    # a new learning rate (a scheduler's) is a constant of the captured Adam: captured again
    for opt in (graph_opt, eager_opt):
        opt.param_groups[0]["lr"] = 5e-4
    l2e, l2g = eager_model.l2_parameters(), graph_model.l2_parameters()
    _, loss_e = eager.step(eager_model, eager_opt, big, big.size, mcfg, 0.1, l2e)
    _, loss_g = graphed.step(graph_model, graph_opt, big, big.size, mcfg, 0.1, l2g)
    assert graphed.captures == 4
    torch.testing.assert_close(loss_g, loss_e, rtol=1e-4, atol=1e-6)


def test_an_overfit_run_with_the_graph_gives_the_metrics_without(tmp_path) -> None:
    for name, graph in (("eager", False), ("graph", True)):
        run(_cfg(epochs=20, cuda_graph=graph, runs_dir=str(tmp_path / name)))
    eager = metrics_without_seconds(only_run(tmp_path / "eager"))
    graph = metrics_without_seconds(only_run(tmp_path / "graph"))
    assert eager[0] == graph[0] and len(eager) == len(graph) == 21
    columns = eager[0]
    for row_e, row_g in zip(eager[1:], graph[1:], strict=True):
        for col, a, b in zip(columns, row_e, row_g, strict=True):
            if col != "epoch":
                assert float(b) == pytest.approx(float(a), rel=1e-3, abs=1e-4), (col, a, b)
