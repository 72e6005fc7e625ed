"""The points of a sweep: which run directory holds each, and what running a point means.

One mechanism for ``dcellx compare`` (every point, or ``--point``, into a new or an existing
``--sweep-dir``) and ``dcellx sweep-run`` (one SLURM array task): a point's run directories are
found by matching resolved configs, exactly as ``dcellx compare --collect`` matches them, and

* a point with a finished run (``summary.json``) is skipped;
* a point with an unfinished run is resumed, from ``checkpoint-last.pt``; an attempt that left no
  checkpoint is run again from scratch in its own directory (the sweep made it; nothing else
  holds its epochs), so running a sweep again never leaves a second directory for a point;
* a point with none starts a fresh run in the sweep directory.

The plan is passed in (``dcellx.train.compare.SweepPlan``: ``grid``, ``points()``,
``config(point, sweep_dir)``), so this module sits below ``compare``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from rich.console import Console

from dcellx.train.checkpoint import LAST
from dcellx.train.config import RunConfig, recorded, route
from dcellx.train.loop import RunResult, resume, run
from dcellx.train.rundir import read_json


class Plan(Protocol):
    grid: dict[str, list[Any]]

    def points(self) -> list[dict[str, Any]]: ...

    def config(self, point: dict[str, Any], sweep_dir: str | Path) -> RunConfig: ...


def lookup(run_cfg: dict[str, Any], key: str) -> Any:
    """``key`` of a recorded run config; a run field the run's ``config.json`` predates (e.g.
    ``max_steps``) reads as its default, which is what that run ran with."""
    part, name = route(key)
    if part == "run":
        return recorded(run_cfg, name)
    return run_cfg[part][name]


def point_key(run_cfg: dict[str, Any], grid_keys: list[str]) -> str:
    """Identity of a run within a sweep, read from its *resolved* config (so ``alpha=0`` and
    ``alpha=0.0`` are the same point)."""
    return json.dumps(
        [run_cfg["variant"], run_cfg["seed"], *(lookup(run_cfg, k) for k in grid_keys)]
    )


def point_label(point: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in point.items())


def point_runs(sweep_dir: str | Path, plan: Plan) -> list[list[Path]]:
    """For each planned point (in ``plan.points()`` order), its run directories, oldest first."""
    sweep_dir = Path(sweep_dir)
    grid_keys = list(plan.grid)
    by_key: dict[str, list[Path]] = {}
    for cfg_path in sorted(sweep_dir.glob("*/config.json")):
        key = point_key(read_json(cfg_path)["run"], grid_keys)
        by_key.setdefault(key, []).append(cfg_path.parent)
    out = []
    for point in plan.points():
        key = point_key(plan.config(point, sweep_dir).model_dump(mode="json"), grid_keys)
        out.append(by_key.get(key, []))
    return out


def checkpoint_epoch(run_dir: Path) -> int | None:
    """The epoch of ``checkpoint-last.pt`` without reading its tensors (memory-mapped)."""
    path = run_dir / LAST
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # a corrupt file: resume will report it properly
        return None
    return int(state.get("epoch", 0))


@dataclass
class PointAction:
    """What to do for a point: ``done`` (finished run), ``resume`` or ``new``."""

    kind: str
    run_dir: Path | None = None
    epoch: int | None = None  # the checkpoint's epoch when resuming


def decide_runs(runs: list[Path]) -> PointAction:
    """The action for a point whose run directories are ``runs`` (``point_runs``)."""
    finished = [r for r in runs if (r / "summary.json").is_file()]
    if finished:
        return PointAction("done", finished[-1])
    if not runs:
        return PointAction("new")
    # prefer the attempt that got furthest (by checkpoint epoch), then the latest
    best = max(runs, key=lambda r: (checkpoint_epoch(r) or -1, r.name))
    return PointAction("resume", best, checkpoint_epoch(best))


def decide(sweep_dir: str | Path, plan: Plan, index: int) -> PointAction:
    return decide_runs(point_runs(sweep_dir, plan)[index])


def act(
    action: PointAction,
    cfg: RunConfig,
    say: Callable[[str], None],
    label: str,
    console: Console | None = None,
    quiet: bool = False,
    comm: Any = None,
) -> RunResult:
    """Carry out ``action`` for the point whose config is ``cfg``; ``say`` one line about it."""
    if action.kind == "done":
        assert action.run_dir is not None
        say(f"{label}: already finished in {action.run_dir}")
        return RunResult(action.run_dir, read_json(action.run_dir / "summary.json"))
    if action.kind == "resume":
        assert action.run_dir is not None
        where = f"epoch {action.epoch}" if action.epoch is not None else "scratch (no checkpoint)"
        say(f"{label}: resuming {action.run_dir} from {where}")
        return resume(action.run_dir, console=console, quiet=quiet, comm=comm, restart=True)
    say(f"{label}: starting a new run in {cfg.runs_dir}")
    cfg.quiet = quiet
    return run(cfg, console=console, comm=comm)
