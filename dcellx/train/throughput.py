"""The throughput forecast of a ``train`` run: samples per second of its optimiser steps, measured
once after a short warm-up, and what they predict for an epoch and for the rest of the run.

The first steps of a process are slower than the rest (the optimiser allocates its state, the
allocator faults in fresh pages, caches warm up), so ``WARMUP_STEPS`` are skipped and the next
``MEASURED_STEPS`` timed (fewer where the process has fewer steps to take, as under
``--max-steps 5``; none where it has no more than the warm-up). Each step is timed on its own,
from building its batch to its optimiser step being done, so a checkpoint or a validation pass
between two steps is not counted. On CUDA the host only queues a step's kernels: while the
warm-up and the window are timed (``timing``) the epoch waits for the device after each step;
after them it does not, and a step's time is the host's, which equals the device's once the
queue is full (the actual rate in ``record`` is then off by at most the queue's depth per epoch).
The forecast is a wall-clock figure: it goes to the console and to ``summary.json`` and never to
``metrics.csv``, which stays equal between two runs with one seed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

WARMUP_STEPS = 2
MEASURED_STEPS = 5


def _round(v: float | None, digits: int = 6) -> float | None:
    return None if v is None or not math.isfinite(v) else round(v, digits)


class Throughput:
    """Step times of one process. ``add(seconds, samples)`` after every optimiser step; once the
    window is measured, ``forecast`` holds the prediction and ``say`` (if given) gets one line.

    ``epoch_samples``: rows one epoch trains on; ``epoch_steps``: its optimiser steps;
    ``planned_steps``: the steps of the whole run (``--epochs``, or ``--max-steps`` where that
    comes first); ``done_steps``: steps already taken when this process started (``--resume``);
    ``forecast``: the one an earlier process of the run measured (kept until this one has its own).
    """

    def __init__(
        self,
        epoch_samples: int,
        epoch_steps: int,
        planned_steps: int,
        done_steps: int,
        say: Callable[[str], None] | None = None,
        forecast: dict[str, Any] | None = None,
    ) -> None:
        self.epoch_samples, self.epoch_steps = epoch_samples, max(epoch_steps, 1)
        self.planned_steps, self.done_steps = planned_steps, done_steps
        self.say = say
        self.steps = 0  # taken by this process
        # the measured window: MEASURED_STEPS, or what this process takes after its warm-up
        self.size = min(MEASURED_STEPS, planned_steps - done_steps - WARMUP_STEPS)
        self.window: list[tuple[float, int]] = []  # (seconds, samples) of the measured steps
        self.after_warmup = [0.0, 0]  # every step of this process after the warm-up
        self.data_seconds = 0.0  # of those steps' time, building their batches
        self.first_step_unix: float | None = None
        self.forecast = forecast
        self.measured = False

    @property
    def timing(self) -> bool:
        """Whether the next step is one of the warm-up or the measured window, whose times must
        be the device's (the caller waits for the device before reading the clock)."""
        return not self.measured and self.steps < WARMUP_STEPS + max(self.size, 0)

    def add(self, seconds: float, samples: int, data_seconds: float = 0.0) -> None:
        """One step of ``seconds``, ``data_seconds`` of them building its batch."""
        self.steps += 1
        if self.steps == 1:  # when this process began training, for time-to-first-step
            self.first_step_unix = time.time() - seconds
        if self.steps <= WARMUP_STEPS:
            return
        self.after_warmup[0] += seconds
        self.after_warmup[1] += samples
        self.data_seconds += data_seconds
        if not self.measured and len(self.window) < self.size:
            self.window.append((seconds, samples))
            if len(self.window) == self.size:
                self._predict()

    def _predict(self) -> None:
        self.measured = True
        seconds = sum(s for s, _ in self.window)
        samples = sum(n for _, n in self.window)
        rate = samples / seconds if seconds > 0 else math.inf
        per_step = self.epoch_samples / self.epoch_steps  # an epoch's mean batch
        left = max(self.planned_steps - self.done_steps - self.steps, 0)
        self.forecast = {
            "warmup_steps": WARMUP_STEPS,
            "measured_steps": self.size,
            "samples_per_s": _round(rate, 2),
            "predicted_epoch_s": _round(self.epoch_samples / rate),
            "predicted_total_s": _round(self.planned_steps * per_step / rate),
            "predicted_remaining_s": _round(left * per_step / rate),
            "planned_steps": self.planned_steps,
        }
        if self.say is not None:
            f, first = self.forecast, WARMUP_STEPS + 1
            self.say(
                f"throughput: {f['samples_per_s']:.1f} samples/s (steps {first}-"
                f"{first + self.size - 1} of this process): ~{_hms(f['predicted_epoch_s'])} "
                f"per epoch, ~{_hms(f['predicted_remaining_s'])} to go of "
                f"{self.planned_steps} steps (optimiser steps only)"
            )

    def record(self, seconds: float, epochs: int) -> dict[str, Any]:
        """``summary.json``'s ``throughput``: the latest forecast (none if no process of the run
        took enough steps to measure one), the mean rate of this process's steps after its
        warm-up, and what the run took (``seconds`` of training in all, over ``epochs``)."""
        out = dict(self.forecast or {"warmup_steps": WARMUP_STEPS, "measured_steps": 0})
        s, n = self.after_warmup
        out["actual_samples_per_s"] = _round(n / s, 2) if s > 0 else None
        out["actual_s"] = _round(seconds)
        out["actual_epoch_s"] = _round(seconds / epochs) if epochs else None
        out["process_steps"] = self.steps
        out["data_fraction"] = _round(self.data_seconds / s, 6) if s > 0 else None
        out["first_step_unix"] = _round(self.first_step_unix, 3)
        return out


def _hms(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
