"""Trackers (``--log tensorboard|wandb``): the run's per-epoch values, as ``metrics.csv`` holds
them, also sent to TensorBoard or Weights & Biases, with the resolved config logged once.

Both are optional extras (``pip install 'dcellx[tensorboard]'`` / ``'dcellx[wandb]'``) behind one
small interface, ``Tracker``: ``log(row)`` per epoch, ``close()`` at the end. ``metrics.csv`` stays
the record: a tracker is a view of it. So a tracker that fails, when it starts or mid-run, is one
``warning:`` line and is dropped; the run, its files and its exit code go on as without it.

* TensorBoard: event files in ``<run>/tensorboard/``, one scalar per column, step = epoch, stored
  in double precision (the same numbers as ``metrics.csv``); the config as a text summary. A
  resumed run purges the epochs after its checkpoint, which it computes again.
* W&B: offline by default (``<run>/wandb/offline-run-*``, ``wandb sync`` uploads it), so a run
  never needs the network; ``WANDB_MODE=online`` (or a ``wandb`` login with that mode) logs live.
  The run's W&B id is the run directory's name, so a resumed run continues the same W&B run.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any, Protocol

from dcellx.errors import ConfigError, warn
from dcellx.train.rundir import read_json

TRACKERS = ("tensorboard", "wandb")


class Tracker(Protocol):
    name: str

    def log(self, row: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def check_installed(names: list[str]) -> None:
    """Refuse (before a run directory exists) a ``--log`` whose package is not installed."""
    for name in names:
        if importlib.util.find_spec(name) is None:
            raise ConfigError(
                f"--log {name}: the {name} package is not installed (pip install 'dcellx[{name}]')"
            )


def _values(row: dict[str, Any]) -> dict[str, float]:
    """A metrics row's values by column, without the epoch (the step) and empty cells."""
    return {k: float(v) for k, v in row.items() if k != "epoch" and v is not None}


class TensorBoard:
    name = "tensorboard"

    def __init__(self, run_dir: Path, config: dict[str, Any], first_epoch: int) -> None:
        from torch.utils.tensorboard import SummaryWriter

        folder = run_dir / "tensorboard"
        fresh = not folder.exists()
        # purge_step: events of the epochs a resumed run computes again (logged before a kill)
        self.writer = SummaryWriter(str(folder), purge_step=first_epoch)
        if fresh:
            text = json.dumps(config, indent=2, default=str)
            self.writer.add_text("config", f"```json\n{text}\n```", 0)
            self.writer.flush()

    def log(self, row: dict[str, Any]) -> None:
        for key, value in _values(row).items():
            self.writer.add_scalar(key, value, row["epoch"], new_style=True, double_precision=True)
        self.writer.flush()  # followed live: an epoch is visible when it ends

    def close(self) -> None:
        self.writer.close()


class WandB:
    name = "wandb"

    def __init__(self, run_dir: Path, config: dict[str, Any], first_epoch: int) -> None:
        import wandb

        mode = os.environ.get("WANDB_MODE") or "offline"  # never the network unless asked
        settings = wandb.Settings(console="off", silent=True, save_code=False)
        self.run = wandb.init(
            mode=mode,  # type: ignore[arg-type]
            dir=str(run_dir),
            id=run_dir.name,
            name=run_dir.name,
            project=os.environ.get("WANDB_PROJECT") or "dcellx",
            config=config,
            resume="allow",
            settings=settings,
        )

    def log(self, row: dict[str, Any]) -> None:
        self.run.log({"epoch": row["epoch"], **_values(row)}, step=row["epoch"])

    def close(self) -> None:
        import wandb

        try:
            self.run.finish()
        except Exception:
            # its service died: released now, not by wandb's exit hook (a traceback at exit)
            wandb.teardown()
            raise


OPENERS = {"tensorboard": TensorBoard, "wandb": WandB}


class Trackers:
    """The run's trackers (main process only). Every call to a tracker is guarded: the first
    exception is one warning naming the tracker, which is then dropped."""

    def __init__(self, names: list[str], run_dir: Path, first_epoch: int) -> None:
        """``first_epoch``: the epoch the run (or its resumption) computes first."""
        self.active: list[Tracker] = []
        for name in names:
            try:
                config = read_json(run_dir / "config.json")  # the resolved config
                self.active.append(OPENERS[name](run_dir, config, first_epoch))
            except Exception as exc:  # third-party code: whatever it raises, the run goes on
                _dropped(name, "start", exc)

    def log(self, row: dict[str, Any]) -> None:
        for tracker in list(self.active):
            try:
                tracker.log(row)
            except Exception as exc:
                self.active.remove(tracker)
                _dropped(tracker.name, f"epoch {row.get('epoch')}", exc)
                _close_quietly(tracker)

    def close(self) -> None:
        for tracker in self.active:
            try:
                tracker.close()
            except Exception as exc:
                _dropped(tracker.name, "close", exc)
        self.active = []


def _close_quietly(tracker: Tracker) -> None:
    try:
        tracker.close()
    except Exception:  # already reported as failed; its own cleanup may fail the same way
        pass


def _dropped(name: str, when: str, exc: BaseException) -> None:
    reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
    warn(f"--log {name} failed at {when} ({reason}); the run goes on without it (metrics.csv)")
