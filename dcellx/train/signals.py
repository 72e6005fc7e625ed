"""Stopping a run cleanly: SIGTERM/SIGINT become a flag the loop reads between optimiser steps.

A step is never cut in half, so the checkpoint written on the way out is consistent; the loop then
raises ``RunInterrupted``, whose ``exit_code`` (143 / 130) the command line exits with.

``DCELLX_TEST_SIGNAL=<SIG>@<epoch>[.<step>][:parent]`` raises ``SIG`` (e.g. ``SIGTERM``) in this
process right after the given optimiser step (``step`` counts from 1 within the epoch, default 1),
or sends it to the parent process (``:parent``, e.g. torchrun, which forwards it to every rank) and
waits for it to come back. Tests interrupt a run at a chosen point this way instead of racing a
fast machine to it with a real ``kill``; the signal itself goes through the handlers below.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TEST_ENV = "DCELLX_TEST_SIGNAL"
_PARENT_WAIT_S = 60.0  # how long a ``:parent`` test signal may take to be forwarded back


class RunInterrupted(Exception):  # noqa: N818 -- a control-flow signal, not an error
    """SIGTERM/SIGINT arrived: a checkpoint was written; exit with ``exit_code`` (143 / 130)."""

    def __init__(self, signum: int, run_dir: Path) -> None:
        self.signum, self.run_dir, self.exit_code = signum, run_dir, 128 + signum
        name = signal.Signals(signum).name
        super().__init__(f"{name}: checkpoint written; continue with --resume {run_dir}")


@dataclass(frozen=True)
class SignalAt:
    """A parsed ``DCELLX_TEST_SIGNAL``."""

    signum: int
    epoch: int
    step: int = 1
    parent: bool = False

    @classmethod
    def parse(cls, spec: str) -> SignalAt:
        try:
            name, _, where = spec.partition("@")
            where, _, target = where.partition(":")
            epoch, _, step = where.partition(".")
            if target not in ("", "parent"):
                raise ValueError(target)
            return cls(signal.Signals[name].value, int(epoch), int(step or 1), target == "parent")
        except (KeyError, ValueError):
            raise ValueError(
                f"{TEST_ENV}={spec!r}: expected <SIGNAL>@<epoch>[.<step>][:parent]"
            ) from None


class StopSignals:
    """SIGTERM/SIGINT handlers (installed by ``with``; the main thread only, as Python requires)
    and the loop's view of them. A second Ctrl-C aborts at once.

    ``agree``: how the processes of one run settle on a signal any of them saw (``--ddp``: an
    all-reduce, so every rank stops at the same step); one process takes its own."""

    def __init__(
        self,
        agree: Callable[[int | None], int | None] = lambda s: s,
        test_signal: SignalAt | None = None,
    ) -> None:
        self.signum: int | None = None
        self._agree = agree
        self._test = test_signal
        self._old: dict[int, Any] = {}

    @classmethod
    def from_env(cls, agree: Callable[[int | None], int | None], main: bool) -> StopSignals:
        """Handlers with the ``DCELLX_TEST_SIGNAL`` hook, which only the main process fires (one
        signal per run, as from one ``kill``)."""
        spec = os.environ.get(TEST_ENV)
        return cls(agree, SignalAt.parse(spec) if spec and main else None)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum == signal.SIGINT and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signum = signum

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGTERM, signal.SIGINT):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)

    def after_step(self, epoch: int, step: int) -> None:
        """Called after every optimiser step (``step`` from 1 within ``epoch``): the test hook."""
        t = self._test
        if t is None or (t.epoch, t.step) != (epoch, step):
            return
        if not t.parent:
            signal.raise_signal(t.signum)  # the handler runs before this returns
            return
        os.kill(os.getppid(), t.signum)
        deadline = time.monotonic() + _PARENT_WAIT_S
        while self.signum is None and time.monotonic() < deadline:
            time.sleep(0.01)

    def agreed(self) -> int | None:
        """The signal every process of the run stops for (a collective under ``--ddp``: every
        rank calls it at the same points)."""
        self.signum = self._agree(self.signum)
        return self.signum
