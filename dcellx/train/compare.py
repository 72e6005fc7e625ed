"""Sweeps: variants x grid points x seeds, each a run directory inside one sweep directory.

``plan_sweep`` validates every point's config before anything runs; ``run_sweep`` runs the points
sequentially (or the ones given, e.g. one per SLURM array task); ``collect`` rebuilds
``compare.csv``, ``summary.csv`` and ``compare.png`` from whatever run directories are there and
names the points that are missing or did not finish, so it works the same after a local sweep, a
SLURM array, or a partial run.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dcellx.errors import ConfigError, DcellxError
from dcellx.fileio import FileWriteError, write_csv
from dcellx.train.config import DEFAULT_MODE, MODES, RunConfig, RunSpec, parse_value, route
from dcellx.train.loop import RunInterrupted
from dcellx.train.metrics import read_metrics
from dcellx.train.plots import draw_compare
from dcellx.train.rundir import mkdir_reason, new_run_id, read_json, write_json
from dcellx.train.sweep_points import act, decide_runs, point_label, point_runs
from dcellx.train.sweep_points import lookup as _lookup
from dcellx.train.sweep_points import point_key as _point_key

PLAN = "sweep.json"
# Per-run columns of compare.csv taken from summary.json (test_* only exist in train mode).
RUN_FIELDS = (
    "status",
    "best_pearson_eval_bn",
    "best_epoch",
    "best_pearson_train_bn",
    "final_pearson_train_bn",
    "final_pearson_eval_bn",
    "epochs_to_0.9_eval_bn",
    "epochs_to_0.9_train_bn",
    "epochs",
    "params",
    "seconds",
    "test_pearson",
    "test_spearman",
    "test_mse",
    "test_r2",
)
# Aggregated (mean, sd) per variant / grid point in summary.csv.
AGG_FIELDS = (
    "best_pearson_eval_bn",
    "final_pearson_eval_bn",
    "best_pearson_train_bn",
    "final_pearson_train_bn",
    "epochs_to_0.9_eval_bn",
    "epochs_to_0.9_train_bn",
    "seconds",
    "test_pearson",
)


class SweepPlan(BaseModel):
    """What ``sweep.json`` holds: enough to rebuild every point's config and to match runs."""

    model_config = ConfigDict(extra="forbid")

    mode: str = DEFAULT_MODE
    variants: list[str]
    seeds: list[int]
    grid: dict[str, list[Any]] = {}
    base: RunSpec = RunSpec()

    def points(self) -> list[dict[str, Any]]:
        """Variant-major, then grid point, then seed."""
        keys = list(self.grid)
        out = []
        for v in self.variants:
            for combo in itertools.product(*(self.grid[k] for k in keys)):
                for s in self.seeds:
                    out.append({"variant": v, "seed": s, **dict(zip(keys, combo, strict=True))})
        return out

    def config(self, point: dict[str, Any], sweep_dir: str | Path) -> RunConfig:
        return self.base.config(**point, mode=self.mode, runs_dir=str(sweep_dir), quiet=True)


def parse_grid(items: list[str] | None) -> dict[str, list[Any]]:
    """``["norm=batch,layer", "alpha=0.3,0"]`` -> ``{"norm": ["batch", "layer"],
    "alpha": [0.3, 0]}``."""
    grid: dict[str, list[Any]] = {}
    for item in items or []:
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not key or not values.strip():
            raise ConfigError(f"--grid expects key=v1,v2,..., got {item!r}")
        if key in ("variant", "seed"):
            raise ConfigError(f"--grid {key}: use --variants / --seeds")
        route(key)  # unknown keys fail here, before anything runs
        grid[key] = [parse_value(v.strip()) for v in values.split(",")]
    return grid


def plan_sweep(
    variants: list[str], seeds: list[int], mode: str, grid: dict[str, list[Any]], base: RunSpec
) -> SweepPlan:
    """A validated plan: every point's config is built once here, so errors come before runs."""
    if not variants:
        raise ConfigError("--variants: give at least one variant")
    if not seeds:
        raise ConfigError("--seeds must be at least 1")
    plan = SweepPlan(mode=mode, variants=variants, seeds=seeds, grid=grid, base=base)
    for point in plan.points():
        plan.config(point, "runs")
    return plan


def plan_cli_sweep(
    spec: RunSpec,
    mode: str,
    seeds: int,
    grid: list[str] | None,
    variants: str | None = None,
    threads: int | None = None,
) -> SweepPlan:
    """The sweep a command line asks for (``compare``, ``slurm compare|overfit|train``).

    ``variants``: comma-separated (a sweep: runs keep metrics, not weights, unless
    ``keep_checkpoints`` is given), or ``None`` for the spec's one ``--variant`` (an array of
    overfit/train runs keeps its checkpoints). ``seeds`` consecutive seeds from the spec's
    ``--seed``; ``grid``: ``key=v1,v2`` items; ``threads``: torch threads where ``--threads`` is
    not given (a SLURM task's CPUs). ``spec`` itself is left unchanged."""
    if mode not in MODES:
        raise ConfigError(f"--mode must be {' or '.join(MODES)}, not {mode!r}")
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, not {seeds}")
    spec = spec.model_copy(deep=True)
    if variants is None:
        names = [spec.run_field("variant", pop=True)]
    else:
        names = [v.strip() for v in variants.split(",") if v.strip()]
        spec.fields.setdefault("keep_checkpoints", "none")
    if threads and "threads" not in spec.fields:
        spec.fields["threads"] = threads
    first = spec.run_field("seed", pop=True)
    return plan_sweep(names, [first + i for i in range(seeds)], mode, parse_grid(grid), spec)


@dataclass
class SweepResult:
    sweep_dir: Path
    grid_keys: list[str]
    runs: list[dict[str, Any]]  # compare.csv rows
    groups: list[dict[str, Any]]  # summary.csv rows
    missing: list[dict[str, Any]] = field(default_factory=list)  # planned points with no run
    failed: list[str] = field(default_factory=list)  # run ids without a summary.json


def _mean_sd(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def _group_label(row: dict[str, Any], grid_keys: list[str]) -> str:
    return " ".join([row["variant"], *(f"{k}={row[k]}" for k in grid_keys)])


def collect(sweep_dir: str | Path) -> SweepResult:
    """Rebuild ``compare.csv``, ``summary.csv`` and ``compare.png`` from the run directories in
    ``sweep_dir``; report planned points without a run and runs that did not finish."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise ConfigError(f"{sweep_dir}: no such sweep directory")
    plan = (
        SweepPlan.model_validate(read_json(sweep_dir / PLAN))
        if (sweep_dir / PLAN).exists()
        else None
    )
    grid_keys = list(plan.grid) if plan else []
    found: dict[str, list[tuple[Path, dict]]] = {}
    for cfg_path in sorted(sweep_dir.glob("*/config.json")):
        run_cfg = read_json(cfg_path)["run"]
        found.setdefault(_point_key(run_cfg, grid_keys), []).append((cfg_path.parent, run_cfg))
    if plan:
        expected = [
            (p, _point_key(plan.config(p, sweep_dir).model_dump(mode="json"), grid_keys))
            for p in plan.points()
        ]
    else:
        expected = [({}, key) for key in found]
    runs, missing, failed, curves = [], [], [], {}
    for point, key in expected:
        candidates = found.get(key, [])
        if not candidates:
            missing.append(point)
            continue
        # a finished run wins over unfinished attempts; the latest id among equals
        done = [c for c in candidates if (c[0] / "summary.json").exists()]
        if not done:
            failed += [c[0].name for c in candidates]
            continue
        run_dir, run_cfg = done[-1]
        summary = read_json(run_dir / "summary.json")
        row = {"variant": run_cfg["variant"], "seed": run_cfg["seed"]}
        row.update({k: _lookup(run_cfg, k) for k in grid_keys})
        row["run_id"] = run_dir.name
        row.update({k: summary.get(k) for k in RUN_FIELDS})
        runs.append(row)
        curves.setdefault(_group_label(row, grid_keys), []).append(read_metrics(run_dir))
    groups = []
    by_group: dict[str, list[dict]] = {}
    for row in runs:
        by_group.setdefault(_group_label(row, grid_keys), []).append(row)
    for members in by_group.values():
        g = {"variant": members[0]["variant"], **{k: members[0][k] for k in grid_keys}}
        g["n"] = len(members)
        for f in AGG_FIELDS:
            vals = [float(m[f]) for m in members if m.get(f) is not None]
            g[f"{f}_mean"], g[f"{f}_sd"] = _mean_sd(vals)
            if f.startswith("epochs_to"):
                g[f"{f}_reached"] = f"{len(vals)}/{len(members)}"
        groups.append(g)
    write_csv(
        sweep_dir / "compare.csv", runs, ["variant", "seed", *grid_keys, "run_id", *RUN_FIELDS]
    )
    agg_cols = []
    for f in AGG_FIELDS:
        agg_cols += [f"{f}_mean", f"{f}_sd"] + (
            [f"{f}_reached"] if f.startswith("epochs_to") else []
        )
    write_csv(sweep_dir / "summary.csv", groups, ["variant", *grid_keys, "n", *agg_cols])
    if curves:
        draw_compare(curves, sweep_dir / "compare.png", f"{sweep_dir.name}")
    return SweepResult(sweep_dir, grid_keys, runs, groups, missing, failed)


def _mkdir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        why = mkdir_reason(path, exc)
        raise FileWriteError(f"{path}: cannot create this directory ({why})") from exc


def new_sweep_dir(runs_dir: str | Path) -> Path:
    root = Path(runs_dir)
    _mkdir(root)
    for _ in range(100):
        path = root / new_run_id("compare", 0).replace("-compare-s0-", "-compare-")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a unique sweep directory in {root}")


def prepare_sweep_dir(plan: SweepPlan, sweep_dir: str | Path | None, runs_dir: str | Path) -> Path:
    """Create ``sweep_dir`` (a new one under ``runs_dir`` if None) with the plan's ``sweep.json``,
    or reuse it if it holds the same plan; a different plan is refused."""
    path = new_sweep_dir(runs_dir) if sweep_dir is None else Path(sweep_dir)
    _mkdir(path)
    plan_json = plan.model_dump(mode="json")
    if (path / PLAN).exists():
        if read_json(path / PLAN) != plan_json:
            raise ConfigError(f"{path} holds a different sweep plan ({PLAN})")
    else:
        write_json(path / PLAN, plan_json)
    return path


def run_sweep(
    plan: SweepPlan,
    sweep_dir: str | Path | None = None,
    runs_dir: str | Path = "runs",
    points: list[int] | None = None,
    quiet: bool = False,
    console: Console | None = None,
) -> SweepResult:
    """Run the plan's points (all, or the indices in ``points``) into ``sweep_dir`` (a new
    ``<runs_dir>/<sweep-id>`` when ``None``), then ``collect``. In an existing sweep directory a
    finished point is skipped and an interrupted one resumed (``dcellx.train.sweep_points``, as
    ``sweep-run`` does). A failing run is reported and the sweep goes on; SIGTERM/SIGINT stop
    the sweep after the current run's checkpoint."""
    console = console or Console()
    planned = plan.points()
    todo = list(range(len(planned)))
    if points is not None:
        bad = [i for i in points if not 0 <= i < len(planned)]
        if bad:
            raise ConfigError(f"--point {bad[0]} out of range: the plan has {len(planned)} points")
        todo = list(points)
    sweep_dir = prepare_sweep_dir(plan, sweep_dir, runs_dir)
    found = point_runs(sweep_dir, plan)
    bar = None
    if not quiet and console.is_terminal:
        bar = Progress(
            TextColumn("[bold]runs"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("{task.fields[info]}"), console=console,
        )  # fmt: skip
        task = bar.add_task("runs", total=len(todo), info="")
        bar.start()

    def say(line: str) -> None:  # skipped and resumed points; a new one is the usual case
        if not quiet and action.kind != "new":
            console.print(line, highlight=False, soft_wrap=True)

    try:
        for i, index in enumerate(todo, 1):
            label = point_label(planned[index])
            if bar is not None:
                bar.update(task, info=label)
            t0 = time.perf_counter()
            action = decide_runs(found[index])
            cfg = plan.config(planned[index], sweep_dir)
            try:
                result = act(action, cfg, say, f"run {i}/{len(todo)} {label}", console)
                msg = (
                    f"best eval-BN r {result.summary['best_pearson_eval_bn']:.4f}, "
                    f"final train-BN r {result.summary['final_pearson_train_bn']:.4f}"
                )
            except RunInterrupted:
                raise
            except (DcellxError, RuntimeError) as exc:  # RuntimeError: e.g. out of memory
                msg = f"[red]failed: {type(exc).__name__}: {exc}[/red]"
            if not quiet:
                console.print(
                    f"run {i}/{len(todo)} {label}: {msg} ({time.perf_counter() - t0:.1f} s)"
                )
            if bar is not None:
                bar.advance(task)
    finally:
        if bar is not None:
            bar.stop()
    return collect(sweep_dir)


def _fmt(mean: float | None, sd: float | None, digits: int = 4) -> str:
    if mean is None:
        return "-"
    return f"{mean:.{digits}f}" + ("" if sd is None else f" ± {sd:.{digits}f}")


def sweep_table(result: SweepResult) -> Table:
    """The summary as a rich table (mean ± sd over seeds)."""
    t = Table(title=f"sweep {result.sweep_dir.name}")
    for col in ("variant", *result.grid_keys, "n"):
        width = max([len(col), *(len(str(g[col])) for g in result.groups)])
        t.add_column(col, no_wrap=True, min_width=width)  # names stay whole; numbers may wrap
    heads = ("best r eval-BN", "final r eval-BN", "final r train-BN", "epochs to 0.9 (eval)", "s")
    for h in heads:
        t.add_column(h, justify="right")
    has_test = any(g.get("test_pearson_mean") is not None for g in result.groups)
    if has_test:
        t.add_column("test r", justify="right")
    for g in result.groups:
        cells = [str(g["variant"]), *(str(g[k]) for k in result.grid_keys), str(g["n"])]
        cells += [
            _fmt(g["best_pearson_eval_bn_mean"], g["best_pearson_eval_bn_sd"]),
            _fmt(g["final_pearson_eval_bn_mean"], g["final_pearson_eval_bn_sd"]),
            _fmt(g["final_pearson_train_bn_mean"], g["final_pearson_train_bn_sd"]),
            _fmt(g["epochs_to_0.9_eval_bn_mean"], g["epochs_to_0.9_eval_bn_sd"], 0)
            + f" ({g['epochs_to_0.9_eval_bn_reached']})",
            _fmt(g["seconds_mean"], g["seconds_sd"], 1),
        ]
        if has_test:
            cells.append(_fmt(g["test_pearson_mean"], g["test_pearson_sd"]))
        t.add_row(*cells)
    return t
