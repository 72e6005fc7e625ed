"""How ``dcellx bench`` times a step on any device, and the device's own roof beside it.

On CPU a step is timed by the host clock (``time.perf_counter``): the host runs every kernel, so
its clock is the step's time. On CUDA the host only enqueues kernels; its clock would measure
how fast it launches them, not how long the GPU computes. There a step is timed by CUDA events
recorded on the stream before and after it (the time the GPU took from reaching the first to
reaching the second, idle gaps inside the step included), with the device synchronised before
the first event and after the last, so no earlier work and no unfinished work is counted. Other
accelerators use the host clock with a synchronisation around each timed region.

The roof is a dense square product on the same device in the same precision (float32, or
bfloat16 under ``--precision bf16``; with ``--tf32`` the float32 product may use TF32 like the
step), timed after every step, so step and roof share the device's state (clock, heat, other
jobs): on CPU 2048^2 as before, on a GPU 4096^2 (137 GFLOP: milliseconds, well above the events'
resolution of about 0.5 us).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def synchronize(device: torch.device) -> None:
    """Wait for every kernel queued on ``device`` (nothing to wait for on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type != "cpu":
        backend = getattr(torch, device.type, None)
        if backend is not None and hasattr(backend, "synchronize"):
            backend.synchronize()


def roof_size(device: torch.device) -> int:
    """Side of the square roof product: 2048 on CPU (as every CPU figure so far), 4096 else."""
    return 2048 if device.type == "cpu" else 4096


def time_with_roof(
    step: Callable[[], None],
    n: int,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    size: int | None = None,
) -> tuple[float, float]:
    """(seconds per ``step``, roof GFLOP/s): each step followed by one square product of
    ``size`` in ``dtype`` on ``device``, both measured over the same minutes, so a machine
    whose speed drifts (a shared VM: the roof was seen anywhere in 116-187 GFLOP/s within one
    hour) moves both alike and their ratio stays a property of the engine."""
    size = size or roof_size(device)
    a = torch.randn(size, size, device=device).to(dtype)
    b = torch.randn(size, size, device=device).to(dtype)
    a @ b
    if device.type == "cuda":
        t_step, t_roof = _events(step, n, lambda: a @ b, device)
    else:
        t_step = t_roof = 0.0
        for _ in range(n):
            synchronize(device)
            t0 = time.perf_counter()
            step()
            synchronize(device)
            t1 = time.perf_counter()
            a @ b
            synchronize(device)
            t_roof += time.perf_counter() - t1
            t_step += t1 - t0
    return t_step / n, 2 * size**3 * n / t_roof / 1e9


def time_steps(step: Callable[[], None], n: int, device: torch.device) -> float:
    """Seconds per ``step`` over ``n`` steps in a row (no roof between them)."""
    if device.type == "cuda":
        return _events(step, n, None, device)[0] / n
    synchronize(device)
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    synchronize(device)
    return (time.perf_counter() - t0) / n


def _events(
    step: Callable[[], None], n: int, roof: Callable[[], object] | None, device: torch.device
) -> tuple[float, float]:
    """(total step seconds, total roof seconds) of ``n`` rounds, by CUDA events: one event
    before each step, one after it, one after its roof; read once, after one synchronisation."""
    marks = [[torch.cuda.Event(enable_timing=True) for _ in range(3)] for _ in range(n)]
    synchronize(device)
    for m in marks:
        m[0].record()
        step()
        m[1].record()
        if roof is not None:
            roof()
        m[2].record()
    synchronize(device)
    t_step = sum(m[0].elapsed_time(m[1]) for m in marks) / 1e3
    t_roof = sum(m[1].elapsed_time(m[2]) for m in marks) / 1e3
    return t_step, t_roof
