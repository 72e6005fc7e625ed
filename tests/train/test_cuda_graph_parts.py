"""``--cuda-graph`` without a GPU: the parts of ``dcellx.train.cuda_graph`` that need no CUDA (a
graph's static inputs, the shape that selects a graph, the refusals) on real DNA-repair batches,
and the command line's refusal without CUDA. The capture and replay themselves are tested in
tests/gpu/test_cuda_graph.py."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from dcellx.batch import pair_capacity
from dcellx.errors import ConfigError
from dcellx.train import make_run_config
from dcellx.train.context import RunContext, build_training
from dcellx.train.cuda_graph import (
    GraphedLocal,
    StaticShapes,
    device_tensors,
    fill,
    fix_shapes,
    graph_obstacle,
    shape_key,
    static_copy,
    stepping_world,
)
from dcellx.train.data import load_run_data
from dcellx.train.world import Local
from tests.train.conftest import run_cli

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def train_split():
    cfg = make_run_config(mode="train", go="dna-repair", seed=0)
    return load_run_data(cfg).train


def test_a_static_input_takes_each_batch_in_place(train_split) -> None:
    rows = train_split.rows
    first, second = train_split.batch(rows[:8]), train_split.batch(rows[8:16])
    shapes = [{k: t.shape for k, t in device_tensors(b, CPU).items()} for b in (first, second)]
    assert shapes[0] == shapes[1]  # double mutants: 16 pairs each
    assert not torch.equal(first.gene, second.gene)
    static = static_copy(first, CPU)
    kept = {k: getattr(static, k).data_ptr() for k in ("sample", "gene", "y", "rows")}
    assert all(getattr(first, k).data_ptr() != p for k, p in kept.items())  # copies, not views
    fill(static, second, CPU)
    for k, ptr in kept.items():  # the graph's inputs: the same memory, now the second batch
        assert getattr(static, k).data_ptr() == ptr
        assert torch.equal(getattr(static, k), getattr(second, k))
    assert torch.equal(first.gene, train_split.batch(rows[:8]).gene)  # the source untouched
    # a last minibatch of another size is another shape, so another graph
    assert shape_key(train_split.batch(rows[:7]), CPU) != shape_key(first, CPU)


@dataclasses.dataclass
class HostSized:
    """A batch whose model sizes its kernels from a host array (as ``host_gene``)."""

    size: int
    gene: torch.Tensor
    host_gene: np.ndarray


def test_a_host_array_the_model_may_size_from_selects_its_own_graph() -> None:
    genes = np.array([3, 5, 8])
    one = HostSized(1, torch.from_numpy(genes), genes)
    other = HostSized(1, torch.from_numpy(genes[::-1].copy()), genes[::-1].copy())
    assert shape_key(one, CPU) != shape_key(other, CPU)
    assert shape_key(one, CPU) == shape_key(HostSized(1, one.gene.clone(), genes.copy()), CPU)


def test_graph_obstacles() -> None:
    def cfg(**kw):
        return make_run_config(mode="overfit", go="dna-repair", **kw)

    assert graph_obstacle(cfg(device="cuda"), False) is None
    assert "CUDA device" in graph_obstacle(cfg(), False)
    assert "--ddp" in graph_obstacle(cfg(device="cuda"), True)
    frozen = cfg(device="cuda", model={"norm": "batch-frozen"})
    assert "batch-frozen" in graph_obstacle(frozen, False)
    pooled = cfg(device="cuda", variant="embedding-pooled")
    assert "'embedding-pooled'" in graph_obstacle(pooled, False)
    assert graph_obstacle(cfg(device="cuda", variant="embedding"), False) is None
    # the world is chosen once from the config: graphs only under cuda_graph, refused upfront
    plain = Local()
    assert stepping_world(cfg(device="cuda"), plain) is plain
    assert isinstance(stepping_world(cfg(device="cuda", cuda_graph=True), plain), GraphedLocal)
    frozen = cfg(device="cuda", cuda_graph=True, model={"norm": "batch-frozen"})
    with pytest.raises(ConfigError, match="--cuda-graph: norm 'batch-frozen'"):
        stepping_world(frozen, plain)


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--cuda-graph"], "--cuda-graph"),
        (["--cuda-graph", "--device", "cuda"], "CUDA is not available"),
    ],
)
def test_cuda_graph_without_cuda_is_one_line(tmp_path, cli_env, flags, says) -> None:
    if torch.cuda.is_available() and "--device" in flags:
        pytest.skip("CUDA is available here")
    args = ["overfit", "--go", "dna-repair", "--epochs", "1", "--runs-dir", str(tmp_path)]
    proc = run_cli([*args, *flags], cli_env)
    assert proc.returncode == 2
    out = proc.stdout + proc.stderr
    errors = [line for line in out.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and says in errors[0] and "Traceback" not in out, out
    assert not any(tmp_path.iterdir())  # refused before a run directory exists


def test_fixed_shapes_give_every_training_minibatch_one_shape(tmp_path) -> None:
    cfg = make_run_config(mode="train", go="dna-repair", seed=0, threads=1, batch_size=32)
    data = load_run_data(cfg)
    model, opt, _ = build_training(cfg, data, CPU)
    world = GraphedLocal()
    pairs = fix_shapes(RunContext(cfg, data, model, opt, None, CPU, tmp_path, world))
    enc = data.train.enc
    assert pairs == pair_capacity(enc, 32) and world.static.pairs == pairs
    assert model.genes.entry_capacity is None  # fixed only while the graph's steps hold them
    rows = data.train.rows
    parts = (rows[:32], rows[32:64], rows[64:71])
    plain = [data.train.batch(r) for r in parts]
    padded = [data.train.batch(r, pairs=pairs) for r in parts]
    assert {b.gene.shape[0] for b in padded} == {pairs}
    keys = [shape_key(b, CPU, host=False) for b in padded]
    assert keys[0] == keys[1] != keys[2]  # full minibatches share a graph, the last has its own
    model.eval()
    with torch.no_grad():
        for a, b in zip(plain, padded, strict=True):
            with world.static.held():
                assert model.genes.entry_capacity is not None
                root_fixed = model(b)[0]
            torch.testing.assert_close(root_fixed, model(a)[0])
    assert model.genes.entry_capacity is None
    # on another device the capacities held are there too, and stay alive for the graphs
    meta = torch.device("meta")
    static = StaticShapes(model.to(meta).genes, world.static.capacity, pairs, meta)
    with static.held():
        assert {t.device for t in model.genes.buffers()} == {meta}
    assert len(static.alive) == 1
    # one fixed batch (overfit) and the baselines keep their own shapes
    for other in (
        cfg.model_copy(update={"mode": "overfit"}),
        cfg.model_copy(update={"variant": "additive"}),
    ):
        m, o, _ = build_training(other, data, CPU)
        assert (
            fix_shapes(RunContext(other, data, m, o, None, CPU, tmp_path, GraphedLocal())) is None
        )
