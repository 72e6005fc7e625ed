"""``--cuda-graph``: every training step replayed from a CUDA graph, one graph per batch shape.

Why: a DCell step is thousands of small kernels (per stratum gathers, ``bmm``, normalisation,
heads, and their backward). On a GPU the host's time to launch them, not the device's to run
them, bounds a small batch; a CUDA graph records one step's kernels once and launches them all
with one call.

How (PyTorch's "CUDA Graphs" notes, whole-network capture with an optimiser):

* A graph replays fixed kernels on fixed memory. Its inputs are static tensors (``static_copy``)
  into which each batch is copied (``fill``); its outputs are static tensors, cloned after each
  replay because the next replay overwrites them.
* One graph per batch shape (``shape_key``: the batch size and the shape and dtype of each of
  its tensors on the device). The first batch of a shape is stepped eagerly on a side stream:
  the warm-up the notes ask for, which allocates the optimiser state, cuBLAS workspaces and
  autograd's buffers outside any capture; it is a real training step. From the second batch of
  the shape on, the graph is captured (once) and replayed. A shorter last minibatch is a second
  shape: its graph is captured in the run's second epoch.
* What a captured kernel holds as a constant: the auxiliary weight ``alpha`` (a Python number in
  ``dcell_loss``) and the learning rate (Adam takes it as a number). A graph whose constants
  changed since its capture (``alpha_decay_epochs``, a scheduler: at most once per epoch) is
  captured again before its next replay.
* Adam is ``capturable`` (``dcellx.train.context.build_training``): its step count lives on the
  device. The gradients are set to None before a capture; the captured backward allocates them
  in the graph's private memory and every replay overwrites them (no ``zero_grad`` between
  replays).
* Everything a captured step does must be a kernel whose shapes depend on the batch's shapes
  only. In ``train`` a DCell's shapes are fixed first (``fix_shapes``): its gene entries padded
  to capacities of the training set, each minibatch's pairs padded to one count, so every full
  minibatch has one shape (and the last another); the capacities hold only around the graph's
  own steps, evaluation forwards (other splits, other sizes) run with each batch's own sizes.
  Otherwise (overfit's one batch, baselines) a batch's host arrays are part of its shape. A host
  read (``.item()``), a shape computed from the data or a Python branch on a tensor fails the
  capture, and the run stops with one ``ConfigError`` naming the cause; ``graph_obstacle``
  refuses upfront what is known not to capture.

Streams: the side stream waits for the current one before each eager step and the current one
for the side stream after it, so a tensor handed from one to the other is never reused early.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from dcellx.errors import ConfigError, warn
from dcellx.nn.config import ModelConfig
from dcellx.nn.genes.registry import gene_input_kind
from dcellx.train.baselines import BASELINES
from dcellx.train.config import RunConfig
from dcellx.train.context import RunContext
from dcellx.train.world import Local, Losses, World, forward_loss, step_losses

# graphs a run keeps at most (each holds a step's activations): a full and a last minibatch
# need two; batches in more shapes than this are not static and the rest run without a graph
MAX_SHAPES = 4
# gene inputs whose shapes follow each batch's distinct genes: no fixed shapes
UNCAPTURABLE_GENES = ("embedding-pooled", "embedding-deepset", "embedding-attention")


def graph_obstacle(cfg: RunConfig, distributed: bool) -> str | None:
    """Why ``cfg``'s training step cannot be captured as a CUDA graph, or ``None``;
    ``distributed``: the run is launched under ``--ddp`` (of any world size)."""
    if torch.device(cfg.device).type != "cuda":
        return f"device {cfg.device!r}: a CUDA graph runs on a CUDA device"
    if distributed:
        return "--ddp: a captured step cannot hold the processes' gradient collectives"
    dcell = cfg.variant not in (*BASELINES, "mlp")
    if dcell and (kind := gene_input_kind(cfg.model)) in UNCAPTURABLE_GENES:
        return f"gene input {kind!r}: its shapes follow each batch's distinct genes"
    if cfg.model.norm == "batch-frozen":
        return (
            "norm 'batch-frozen': it switches to running statistics at a step count the host "
            "compares, a branch a replayed graph cannot take"
        )
    return None


def stepping_world(cfg: RunConfig, world: World) -> World:
    """The world a run's steps go through, chosen here once: ``world``, or under
    ``--cuda-graph`` (refused where the step cannot be captured) a ``GraphedLocal``."""
    if not cfg.cuda_graph:
        return world
    why = graph_obstacle(cfg, world.describe() is not None)
    if why is not None:
        raise ConfigError(f"--cuda-graph: {why}")
    return GraphedLocal()


def device_tensors(batch: Any, dev: torch.device) -> dict[str, torch.Tensor]:
    """The tensors of the batch (a dataclass) on ``dev``'s kind of device, by field name: what
    the model reads, and so the graph's inputs."""
    out = {}
    for f in dataclasses.fields(batch):
        value = getattr(batch, f.name)
        if isinstance(value, torch.Tensor) and value.device.type == dev.type:
            out[f.name] = value
    return out


def shape_key(batch: Any, dev: torch.device, host: bool = True) -> tuple:
    """What one graph serves: the batch size, each device tensor's name, shape and dtype, and
    with ``host`` the content of each host array of the batch (a model may size its kernels
    from one on the host, as from ``PerturbationBatch.host_gene``; a graph captured on one
    content would replay the wrong sizes for another; not under fixed shapes)."""
    shapes = [(k, tuple(t.shape), t.dtype) for k, t in device_tensors(batch, dev).items()]
    for f in dataclasses.fields(batch) if host else ():
        if isinstance(value := getattr(batch, f.name), np.ndarray):
            shapes.append((f.name, value.shape, value.dtype.str, value.tobytes()))
    return (batch.size, *shapes)


def static_copy(batch: Any, dev: torch.device) -> Any:
    """``batch`` with its device tensors replaced by copies: a graph's own input tensors."""
    copies = {k: t.clone() for k, t in device_tensors(batch, dev).items()}
    return dataclasses.replace(batch, **copies)


def fill(static: Any, batch: Any, dev: torch.device) -> None:
    """Copy ``batch``'s device tensors into ``static``'s, in place (the same ``shape_key``)."""
    for k, t in device_tensors(batch, dev).items():
        getattr(static, k).copy_(t)


@dataclass
class StaticShapes:
    """A DCell's fixed shapes for minibatches of the training set: its gene-entry capacities
    per stratum (set only while ``held``) and the pair count every minibatch is padded to.

    Setting the capacities makes the gene input a new index tensor on the host: ``held`` moves
    it to the model's device, and keeps every one it made alive, because a graph captured while
    it held them reads that tensor's memory at every replay."""

    genes: nn.Module  # the DCell's GeneInput
    capacity: np.ndarray
    pairs: int
    device: torch.device
    alive: list[list[torch.Tensor]] = dataclasses.field(default_factory=list)

    @contextmanager
    def held(self) -> Iterator[None]:
        self.genes.set_entry_capacity(self.capacity)
        self.genes.to(self.device)
        self.alive.append(list(self.genes.buffers()))
        try:
            yield
        finally:
            self.genes.set_entry_capacity(None)


def fix_shapes(ctx: RunContext) -> int | None:
    """Under ``--cuda-graph`` in ``train``: the pair count to pad the training minibatches to,
    the model's capacities kept by the run's ``GraphedLocal`` for its steps; ``None`` (nothing
    fixed) for a model without fixed shapes (``set_static_shapes``) or one fixed batch."""
    model, world = ctx.model, ctx.world
    if ctx.cfg.mode != "train" or not hasattr(model, "set_static_shapes"):
        return None
    assert isinstance(world, GraphedLocal), "stepping_world gives --cuda-graph its world"
    pairs = model.set_static_shapes(ctx.data.train.enc, ctx.cfg.batch_size)
    world.static = StaticShapes(model.genes, model.genes.entry_capacity, pairs, ctx.dev)
    model.genes.set_entry_capacity(None)  # until the graph's steps
    return pairs


@dataclass
class Captured:
    """One captured step: its graph, input batch, output tensors and the constants it holds."""

    graph: Any  # torch.cuda.CUDAGraph
    batch: Any
    root: torch.Tensor
    losses: torch.Tensor
    constants: tuple


def _first_line(err: BaseException) -> str:
    """The cause of a failed capture: the error raised inside it where the capture's own end
    raised another one on top of it."""
    cause = err.__context__ or err
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0][:200]


def capture(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    batch: Any,
    mcfg: ModelConfig,
    alpha: float,
    l2: list[torch.Tensor] | None,
    constants: tuple,
) -> Captured:
    """Capture forward, loss, backward and ``opt.step()`` on a static copy of ``batch``. Nothing
    runs: the first replay takes the step on ``batch``."""
    dev = batch.y.device
    static = static_copy(batch, dev)
    opt.zero_grad(set_to_none=True)  # the captured backward allocates the graph's gradients
    graph = torch.cuda.CUDAGraph()
    try:
        with torch.cuda.graph(graph):
            root, parts, loss = forward_loss(model, static, mcfg, alpha, l2)
            loss.backward()
            opt.step()
            out = root.detach(), step_losses(parts)
    except RuntimeError as err:
        raise ConfigError(
            f"--cuda-graph: the training step cannot be captured as a CUDA graph "
            f"({_first_line(err)}); run without --cuda-graph"
        ) from None
    return Captured(graph, static, *out, constants)


class GraphedLocal(Local):
    """One process whose optimiser steps replay CUDA graphs (module docstring); everything but
    ``step`` is ``Local``'s."""

    def __init__(self) -> None:
        self.graphs: dict[tuple, Captured] = {}
        self.shapes: set[tuple] = set()  # shapes stepped once (warmed up)
        self.stream: Any = None  # the side stream of the eager steps
        self.captures = 0  # graphs captured, recaptures included
        self.warned = False
        self.static: StaticShapes | None = None  # fix_shapes

    def _shapes(self) -> Any:
        """The model's fixed shapes, held for one eager step or capture."""
        return nullcontext() if self.static is None else self.static.held()

    def step(
        self,
        model: nn.Module,
        opt: torch.optim.Optimizer,
        batch: Any,
        n_global: int,
        mcfg: ModelConfig,
        alpha: float,
        l2: list[torch.Tensor] | None,
    ) -> tuple[torch.Tensor, Losses]:
        dev = batch.y.device
        key = shape_key(batch, dev, host=self.static is None)
        if key not in self.shapes:  # a new shape's first step, or one beyond MAX_SHAPES
            if len(self.shapes) < MAX_SHAPES:
                self.shapes.add(key)
            elif not self.warned:
                self.warned = True
                warn(
                    f"--cuda-graph: batches come in more than {MAX_SHAPES} shapes; the steps "
                    "of further shapes run without a graph"
                )
            return self._eager(model, opt, batch, n_global, mcfg, alpha, l2)
        constants = (alpha, tuple(float(g["lr"]) for g in opt.param_groups))
        graph = self.graphs.get(key)
        if graph is None or graph.constants != constants:
            self.graphs.pop(key, None)  # its memory goes back before the new capture
            with self._shapes():
                graph = capture(model, opt, batch, mcfg, alpha, l2, constants)
            self.graphs[key] = graph
            self.captures += 1
        else:
            fill(graph.batch, batch, dev)
        graph.graph.replay()
        return graph.root.clone(), graph.losses.clone()

    def _eager(self, model, opt, batch, n_global, mcfg, alpha, l2) -> tuple[torch.Tensor, Losses]:
        """``Local.step`` on the side stream (module docstring)."""
        dev = batch.y.device
        if self.stream is None:
            self.stream = torch.cuda.Stream(dev)
        self.stream.wait_stream(torch.cuda.current_stream(dev))
        with torch.cuda.stream(self.stream), self._shapes():
            out = super().step(model, opt, batch, n_global, mcfg, alpha, l2)
        torch.cuda.current_stream(dev).wait_stream(self.stream)
        return out
