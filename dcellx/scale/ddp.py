"""Distributed data parallel training: ``dcellx train|overfit --ddp [--sync-bn]``.

Launch with ``torchrun --nproc-per-node N --no-python dcellx train --ddp ...`` (RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR/PORT set by torchrun) or with ``srun dcellx train --ddp ...`` inside an
allocation (rank, world size and local rank from SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID; the
master is the allocation's first node). gloo on CPU, nccl on CUDA (one GPU per local rank).

The split is chosen so that W processes compute the *single-process* run: every rank walks the same
global batch order (the (seed, epoch) permutation of the loop) and takes a contiguous part of each
global batch (DistributedSampler-like, but per batch, so the global batch is the single-process
one). Each rank's loss is weighted by W*b_r/B, so DistributedDataParallel's gradient average is
the gradient of the global-batch mean even when the parts differ in size. With ``--sync-bn``
DCell's BatchNorm statistics (inside ``dcellx.nn.norm.batch_norm_rows``) are all-reduced across
ranks through a differentiable sum, as SyncBatchNorm does; the same hook serves CPU (where
torch's SyncBatchNorm refuses CPU tensors) and CUDA. Predictions are gathered so the metrics are
those of the global batch; eval metrics are computed on rank 0 and broadcast, so every rank takes
the same scheduler and early-stopping decisions. Only rank 0 writes the run directory; checkpoints
hold the unwrapped model's term-named state and a plain optimiser state, so any world size can
resume them.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from dcellx.errors import ConfigError
from dcellx.nn.config import ModelConfig
from dcellx.nn.norm import set_batch_stat_reducer
from dcellx.train.rundir import read_json
from dcellx.train.signals import RunInterrupted
from dcellx.train.world import optimiser_step

LAUNCH_HINT = (
    "launch with `torchrun --nproc-per-node N --no-python dcellx ... --ddp` or `srun dcellx ... "
    "--ddp` inside a SLURM allocation"
)


class _SumAcrossRanks(torch.autograd.Function):
    """``all_reduce(SUM)`` with a gradient. Every rank gets y = sum_r x_r, so the gradient of the
    summed losses with respect to x_r is sum_r' dL_r'/dy: the backward is the same all-reduce of
    the incoming gradients (what SyncBatchNorm does with its statistics). ``dist.all_reduce`` alone
    is in place and invisible to autograd: gradients would skip the statistics."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, group: Any) -> torch.Tensor:
        ctx.group = group
        y = x.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(y, op=dist.ReduceOp.SUM, group=group)
        return y

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        g = grad.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(g, op=dist.ReduceOp.SUM, group=ctx.group)
        return g, None


def sum_across_ranks(x: torch.Tensor, group: Any = None) -> torch.Tensor:
    """Differentiable sum of ``x`` over the ranks of ``group`` (default: all)."""
    return _SumAcrossRanks.apply(x, group)


def batch_stat_reducer(group: Any = None):
    """The ``set_batch_stat_reducer`` hook: (sum, sum of squares, count) summed over ranks in one
    collective (packed into one tensor)."""

    def reduce(s: torch.Tensor, ss: torch.Tensor, n: torch.Tensor):
        k = s.shape[0]
        out = sum_across_ranks(torch.cat([s, ss, n.reshape(1).to(s)]), group)
        return out[:k], out[k : 2 * k], out[2 * k]

    return reduce


def launch_env() -> tuple[int, int, int] | None:
    """(rank, world size, local rank) from torchrun's or srun's environment, else ``None``."""
    env = os.environ
    if "RANK" in env and "WORLD_SIZE" in env:
        return int(env["RANK"]), int(env["WORLD_SIZE"]), int(env.get("LOCAL_RANK", "0"))
    if "SLURM_PROCID" in env and "SLURM_NTASKS" in env:
        return int(env["SLURM_PROCID"]), int(env["SLURM_NTASKS"]), int(env.get("SLURM_LOCALID", 0))
    return None


def _slurm_master() -> tuple[str, str]:
    """MASTER_ADDR/PORT under srun: the allocation's first node and a port from the job id (so
    two jobs sharing a node do not collide)."""
    env = os.environ
    addr = "127.0.0.1"
    if env.get("SLURM_NNODES", "1") != "1" and env.get("SLURM_JOB_NODELIST"):
        try:
            out = subprocess.run(
                ["scontrol", "show", "hostnames", env["SLURM_JOB_NODELIST"]],
                capture_output=True, text=True, timeout=30, check=True,
            ).stdout.split()  # fmt: skip
        except (OSError, subprocess.SubprocessError) as exc:
            raise ConfigError(f"--ddp: cannot resolve the master node ({exc})") from None
        addr = out[0]
    port = 20000 + int(env.get("SLURM_JOB_ID", "0")) % 20000
    return addr, str(port)


@dataclass
class DDPContext:
    """This process's place in the group and the collectives the training loop needs."""

    rank: int
    world: int
    local_rank: int
    backend: str
    device: torch.device
    sync_bn: bool
    bn_group: Any = None
    model: nn.Module | None = None  # the DistributedDataParallel wrapper, once ``wrap``ped

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def describe(self) -> dict[str, Any]:
        """What config.json records about the launch."""
        return {"world_size": self.world, "backend": self.backend, "sync_bn": self.sync_bn}

    # -- batches -------------------------------------------------------------------------------
    def parts(self, n: int) -> list[int]:
        """Row counts of the W contiguous parts of a global batch of ``n`` rows."""
        return [len(p) for p in np.array_split(np.arange(n), self.world)]

    def shard(self, rows: np.ndarray) -> np.ndarray:
        """This rank's contiguous part of a global batch (rank order = batch order)."""
        return np.array_split(rows, self.world)[self.rank]

    def usable(self, n: int) -> bool:
        """Can a global batch of ``n`` rows be split? Every rank needs a row (two without
        synchronised statistics: BatchNorm over one sample is undefined)."""
        return n >= 2 and n // self.world >= (1 if self.sync_bn else 2)

    def check_batch_size(self, batch_size: int) -> None:
        if not self.usable(batch_size):
            need = self.world * (1 if self.sync_bn else 2)
            raise ConfigError(
                f"--ddp: batch size {batch_size} cannot be split over {self.world} processes "
                f"(at least {max(2, need)} rows{'' if self.sync_bn else ' without --sync-bn'})"
            )

    # -- model -----------------------------------------------------------------------------------
    def wrap(self, model: nn.Module) -> nn.Module:
        """DistributedDataParallel around ``model`` (parameters shared, not copied)."""
        has_torch_bn = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
        if self.sync_bn and has_torch_bn:
            if self.device.type != "cuda":
                raise ConfigError(
                    "--sync-bn on CPU synchronises DCell's own BatchNorm; this model uses "
                    "torch.nn.BatchNorm (the mlp control), whose SyncBatchNorm needs CUDA"
                )
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        ids = [self.device.index] if self.device.type == "cuda" else None
        # synchronised statistics keep the running buffers equal on every rank already; a batch
        # need not touch every parameter (e.g. a stratum's gene weights), hence unused-detection
        self.model = DistributedDataParallel(
            model,
            device_ids=ids,
            forward_sync_buffers=not self.sync_bn,
            find_unused_parameters=True,
        )
        return self.model

    def step(
        self,
        model: nn.Module,
        opt: torch.optim.Optimizer,
        batch: Any,
        n_global: int,
        mcfg: ModelConfig,
        alpha: float,
        l2: list[torch.Tensor] | None,
    ) -> tuple[torch.Tensor, tuple[float, float, float]]:
        """One optimiser step on this rank's part ``batch`` of a global batch of ``n_global``
        rows; returns the global batch's root predictions (batch order) and its losses.

        The rank's ``dcell_loss`` is weighted by w = W*b_r/B. DistributedDataParallel averages
        the gradients, so the data terms give the gradient of the global-batch mean; the L2 term,
        the same on every rank, keeps its own gradient because the weights average to 1 (and with
        equal parts w = 1: each rank's loss is exactly the one-process loss of its rows)."""
        w = self.world * batch.size / n_global
        root, parts = optimiser_step(model, opt, batch, mcfg, alpha, l2, weight=w)
        # the same weighted average gives the global batch's losses (L2 included in the total)
        local = [w * float(parts.total), w * float(parts.root), w * float(parts.aux)]
        sums = torch.tensor(local, dtype=torch.float64, device=self.device)
        dist.all_reduce(sums)
        total, root_loss, aux_loss = (float(v) / self.world for v in sums)
        return self.gather(root.detach(), n_global), (total, root_loss, aux_loss)

    # -- collectives -----------------------------------------------------------------------------
    def gather(self, local: torch.Tensor, n_global: int) -> torch.Tensor:
        """Concatenate every rank's part of a global batch, in rank (= batch) order."""
        sizes = self.parts(n_global)
        width = max(sizes)
        padded = local.new_zeros((width, *local.shape[1:]))
        padded[: local.shape[0]] = local
        out = [torch.empty_like(padded) for _ in range(self.world)]
        dist.all_gather(out, padded.contiguous())
        return torch.cat([t[:k] for t, k in zip(out, sizes, strict=True)])

    def agree_signal(self, signum: int | None) -> int | None:
        """A signal seen by any rank stops every rank at the same step (else the others would wait
        forever in the next collective)."""
        flag = torch.tensor([signum or 0], dtype=torch.int64, device=self.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return int(flag.item()) or None

    def from_main(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def close(self, barrier: bool = True) -> None:
        """Leave the group; ``barrier`` (success only: a failed rank must not wait for the others)
        lets rank 0 finish writing before the others tear the group down."""
        set_batch_stat_reducer(None)
        if dist.is_initialized():
            if barrier:
                dist.barrier()
            dist.destroy_process_group()


def init(device: str = "cpu", sync_bn: bool = False, timeout_s: float = 1800) -> DDPContext:
    """Join the process group described by the environment (torchrun or srun) and, with
    ``sync_bn``, install the all-reduce of BatchNorm statistics (on its own process group, so its
    collectives never interleave with DistributedDataParallel's gradient buckets)."""
    where = launch_env()
    if where is None:
        raise ConfigError(f"--ddp: no RANK/WORLD_SIZE or SLURM_PROCID/SLURM_NTASKS: {LAUNCH_HINT}")
    rank, world, local = where
    if "MASTER_ADDR" not in os.environ or "MASTER_PORT" not in os.environ:
        addr, port = _slurm_master()
        os.environ.setdefault("MASTER_ADDR", addr)
        os.environ.setdefault("MASTER_PORT", port)
    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {device!r}: CUDA is not available here")
        # one GPU per local rank; where SLURM binds one GPU per task, each task sees only its own
        index = local % torch.cuda.device_count()
        torch.cuda.set_device(index)
        dev = torch.device("cuda", index)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    dist.init_process_group(
        backend, rank=rank, world_size=world, timeout=timedelta(seconds=timeout_s)
    )
    ctx = DDPContext(rank, world, local, backend, dev, sync_bn)
    if sync_bn:
        ctx.bn_group = dist.new_group(backend=backend)
        set_batch_stat_reducer(batch_stat_reducer(ctx.bn_group))
    return ctx


@contextmanager
def session(
    enabled: bool, sync_bn: bool = False, device: str | None = None, run_dir: Path | None = None
) -> Iterator[DDPContext | None]:
    """``with session(ddp, sync_bn, device=...) as comm``: ``None`` without ``--ddp``; else the
    joined group, left on exit (after a barrier only on success). ``run_dir``: take the device from
    a run being resumed."""
    if sync_bn and not enabled:
        raise ConfigError("--sync-bn synchronises BatchNorm across processes: use it with --ddp")
    if not enabled:
        yield None
        return
    if device is None:
        config = Path(run_dir or ".") / "config.json"
        device = read_json(config)["run"]["device"] if run_dir and config.is_file() else "cpu"
    ctx = init(device, sync_bn)
    ok = False
    try:
        yield ctx
        ok = True
    except RunInterrupted:
        # every rank raises it at the same step; wait for rank 0's checkpoint before exiting
        # (srun --kill-on-bad-exit ends all ranks as soon as one exits non-zero)
        ok = True
        raise
    finally:
        ctx.close(barrier=ok)
