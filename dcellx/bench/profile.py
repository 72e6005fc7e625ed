"""``dcellx bench --profile``: where a training step's time goes, part by part.

The engine marks its parts with ``dcellx.nn.ops.section`` (free unless a profiler runs). Under
``torch.profiler`` every forward op inside a part is charged to it, and so is the backward of
that op: the autograd engine records each backward node with the sequence number of the forward
op that made it, so ``evaluate_function: BmmBackward0`` of sequence number 812 goes to the part
whose forward ran op 812. The loss, Adam and ``zero_grad`` are their own parts; what no part
claims (Python between ops, the autograd engine's own work) is ``other``.

Kernel lines cut across parts: all ``aten::bmm`` (forward and both backward products, with the
FLOPs the bucket padding spends), the gathers and the index-adds of their backward, and the
allocator (``empty*``) and zero-fills (``fill_``/``zero_``). Profiled times include the
profiler's own overhead per op (about 1-2 us); the unprofiled step time is reported beside them.

On CUDA the profiler records CUDA activity too and every figure is device time (the kernels an op
or a part launched, ``device_time_total``; kernel families by ``self_device_time_total``): host
time there is launch time, not the step's. The unprofiled step is then synchronised around.
"""

from __future__ import annotations

import resource
import time
from collections import defaultdict
from collections.abc import Callable

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from dcellx.bench.timing import synchronize

# engine parts, in the order a forward runs them (dcellx.nn.dcell and the bench's step)
PARTS = (
    "genes",
    "gather",
    "matmul",
    "bias+genes",
    "tanh",
    "norm",
    "aux heads",
    "root head",
    "loss",
)
GATHERS = ("aten::index_select", "aten::index", "aten::gather")
SCATTERS = ("aten::index_add_", "aten::index_add", "aten::scatter_add_", "aten::index_put_")
ALLOC = ("aten::empty", "aten::empty_strided", "aten::empty_like", "aten::resize_")
FILLS = ("aten::fill_", "aten::zero_")
EVALUATE = "autograd::engine::evaluate_function:"


def _part_of(event, parts: set[str]) -> str | None:
    """The innermost engine part around ``event`` (walking up its CPU parents)."""
    e = event
    while e is not None:
        if e.name in parts:
            return e.name
        e = e.cpu_parent
    return None


def _backward_node(event):
    """The ``evaluate_function`` event ``event`` runs inside (a backward node), or None."""
    e = event
    while e is not None:
        if e.name.startswith(EVALUATE):
            return e
        e = e.cpu_parent
    return None


def breakdown(events, steps: int, device_time: bool = False) -> dict:
    """Per-step milliseconds by part (forward, backward) and by kernel family; ``device_time``:
    the kernels' time on the device instead of the host's (CUDA).

    A part's range in the forward is charged to its forward; a backward node is charged to the
    part that made it, less the part ranges inside it (a hand-written backward, such as the
    fused engine's, marks its own parts), which go to those parts' backward."""
    total = "device_time_total" if device_time else "cpu_time_total"
    self_total = "self_device_time_total" if device_time else "self_cpu_time_total"
    parts = set(PARTS)
    seq_part: dict[int, str] = {}
    for e in events:
        if e.sequence_nr >= 0 and not e.name.startswith("autograd::"):
            p = _part_of(e, parts)
            if p is not None:
                seq_part.setdefault(e.sequence_nr, p)
    fwd: dict[str, float] = defaultdict(float)
    bwd: dict[str, float] = defaultdict(float)
    inner: dict[int, float] = defaultdict(float)  # id(backward node) -> its part ranges
    step_us = adam = zero = 0.0
    kernels: dict[str, float] = defaultdict(float)
    bmm_calls = 0
    for e in events:
        name = e.name
        if name == "dcellx.step":
            step_us += getattr(e, total)
        elif name in parts and _part_of(e.cpu_parent, parts) is None:
            node = _backward_node(e)
            if node is None:
                fwd[name] += getattr(e, total)
            else:
                bwd[name] += getattr(e, total)
                inner[id(node)] += getattr(e, total)
        elif name.startswith("Optimizer.step#"):
            adam += getattr(e, total)
        elif name.startswith("Optimizer.zero_grad#"):
            zero += getattr(e, total)
        # kernel families, self time (an op's own time without the ops it calls)
        if name == "aten::bmm":
            kernels["bmm"] += getattr(e, self_total)
            bmm_calls += 1
        elif name in GATHERS:
            kernels["gathers"] += getattr(e, self_total)
        elif name in SCATTERS:
            kernels["index-adds"] += getattr(e, self_total)
        elif name in ALLOC:
            kernels["allocator"] += getattr(e, self_total)
        elif name in FILLS:
            kernels["zero-fills"] += getattr(e, self_total)
        elif name == "aten::cat":
            kernels["cat"] += getattr(e, self_total)
    for e in events:
        if e.name.startswith(EVALUATE) and _backward_node(e.cpu_parent) is None:
            part = "grad accumulation" if "AccumulateGrad" in e.name else None
            part = part or seq_part.get(e.sequence_nr, "other")
            bwd[part] += getattr(e, total) - inner.get(id(e), 0.0)
    if device_time:  # the backward runs on the device's own autograd thread, outside the step's
        step_us = sum(getattr(e, self_total) for e in events)  # range: every kernel, once
    ms = 1e-3 / steps
    rows = []
    for p in (*PARTS, "grad accumulation", "other"):
        if fwd.get(p) or bwd.get(p):
            rows.append({"part": p, "forward_ms": fwd[p] * ms, "backward_ms": bwd[p] * ms})
    rows.append({"part": "Adam (fused)", "forward_ms": adam * ms, "backward_ms": 0.0})
    rows.append({"part": "zero_grad", "forward_ms": zero * ms, "backward_ms": 0.0})
    claimed = sum(fwd.values()) + sum(bwd.values()) + adam + zero
    rows.append({"part": "unclaimed", "forward_ms": (step_us - claimed) * ms, "backward_ms": 0.0})
    return {
        "profiled_step_ms": step_us * ms,
        "parts": rows,
        "kernels_ms": {k: v * ms for k, v in sorted(kernels.items(), key=lambda kv: -kv[1])},
        "bmm_calls_per_step": bmm_calls / steps,
    }


def profile_steps(
    step: Callable[[], None], steps: int = 2, device: torch.device | None = None
) -> dict:
    """Run ``step`` ``steps`` times unprofiled (time, page faults) and ``steps`` times under
    the profiler (with CUDA activity on a CUDA ``device``); return ``breakdown`` plus the
    unprofiled figures."""
    device = device or torch.device("cpu")
    cuda = device.type == "cuda"
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    synchronize(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    wall = (time.perf_counter() - t0) / steps
    faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / steps
    activities = [ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if cuda else [])]
    with profile(activities=activities) as prof:
        for _ in range(steps):
            with record_function("dcellx.step"):
                step()
        synchronize(device)
    out = breakdown(prof.events(), steps, device_time=cuda)
    out["step_ms"] = wall * 1e3
    out["minor_page_faults_per_step"] = round(faults)
    return out
