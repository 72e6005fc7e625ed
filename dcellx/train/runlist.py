"""``dcellx runs``: one row per run directory or sweep under a runs directory.

A run's row comes from the files it keeps (``config.json``, ``summary.json``, ``metrics.csv``,
``env.json``) and its lock: a run whose ``run.lock`` a live process holds is ``running``; one with
``summary.json`` ``finished``; one that can continue (``checkpoint-last.pt``) ``interrupted``;
anything else (killed before its first checkpoint, a crash) ``failed``. A sweep (``sweep.json``)
is one row summarising its runs; ``dcellx runs runs/<sweep-id>`` lists the runs themselves.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from dcellx.errors import ConfigError, DcellxError, warn
from dcellx.train.checkpoint import LAST
from dcellx.train.compare import PLAN, SweepPlan, _lookup
from dcellx.train.config import DEFAULT_GO, parse_value, route
from dcellx.train.metrics import read_metrics
from dcellx.train.rundir import lock_holder, read_json

STATUSES = ("running", "finished", "interrupted", "failed")
# every row has these keys (None where a value does not apply); --sort and --where take them
COLUMNS: tuple[str, ...] = (
    "id",
    "command",
    "mode",
    "preset",
    "go",
    "variant",
    "seed",
    "status",
    "ended",
    "epochs",
    "steps",
    "best_pearson",
    "final_pearson",
    "test_pearson",
    "seconds",
    "started",
    "runs",
    "holder",
    "path",
)


def _finite(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and math.isfinite(v) else None


def run_status(run_dir: Path) -> tuple[str, dict[str, Any] | None]:
    """(status, the live holder's lock record or None) of one run directory."""
    holder = lock_holder(run_dir)
    if holder is not None:
        return "running", holder
    if (run_dir / "summary.json").is_file():
        return "finished", None
    if (run_dir / LAST).is_file():
        return "interrupted", None
    return "failed", None


def run_row(run_dir: Path) -> dict[str, Any]:
    """The row of one run directory (raises ``DcellxError``/``OSError``/``ValueError`` for
    unreadable files; ``list_runs`` turns them into a warning)."""
    config = read_json(run_dir / "config.json")
    run = config["run"]
    status, holder = run_status(run_dir)
    summary = read_json(run_dir / "summary.json") if status == "finished" else {}
    # an unfinished run: how far its metrics.csv got (a finished one's summary says it all)
    rows = read_metrics(run_dir) if not summary and (run_dir / "metrics.csv").is_file() else []
    evals = [_finite(r.get("pearson_eval_bn")) for r in rows]
    env = read_json(run_dir / "env.json") if (run_dir / "env.json").is_file() else {}
    epochs = summary.get("epochs", len(rows))
    steps = summary.get("steps", epochs if run["mode"] == "overfit" else None)
    seen = [e for e in evals if e is not None]
    best = summary.get("best_pearson_eval_bn") if summary else max(seen, default=None)
    final = summary.get("final_pearson_eval_bn") if summary else (evals[-1] if evals else None)
    seconds = summary.get("seconds", rows[-1].get("seconds") if rows else None)
    return {
        "id": run_dir.name,
        "command": run["mode"],
        "mode": run["mode"],
        "preset": run["model"]["preset"],
        "go": run["go"],
        "variant": run["variant"],
        "seed": run["seed"],
        "status": status,
        "ended": summary.get("status"),  # completed, stopped_early or max_steps
        "epochs": epochs,
        "steps": steps,
        "best_pearson": _finite(best),
        "final_pearson": _finite(final),
        "test_pearson": _finite(summary.get("test_pearson")),
        "seconds": _finite(seconds),
        "started": env.get("started"),
        "runs": None,
        "holder": holder,
        "path": str(run_dir),
        "config": run,  # for --where on any config field; not a column
    }


def _span(values: list[Any]) -> Any:
    """One value, or the distinct values joined by commas."""
    distinct = list(dict.fromkeys(str(v) for v in values))
    return values[0] if len(distinct) == 1 else ",".join(distinct)


def sweep_row(sweep_dir: Path) -> dict[str, Any]:
    """The row of a sweep: what it plans, and how far its runs got."""
    plan = SweepPlan.model_validate(read_json(sweep_dir / PLAN))
    runs = list_runs(sweep_dir, sweeps=False)
    states = [r["status"] for r in runs]
    planned = len(plan.points())
    done = min(states.count("finished"), planned)
    if "running" in states:
        status = "running"
    elif done == planned:
        status = "finished"
    elif "failed" in states:
        status = "failed"
    else:  # interrupted runs or points not started yet: `sweep-run` / `--sweep-dir` continue it
        status = "interrupted"
    base = plan.base.model_dump()
    preset = plan.grid.get("preset", [base["preset"]])
    go = plan.grid.get("go", [base["fields"].get("go", DEFAULT_GO)])
    seeds = plan.seeds
    seconds = [r["seconds"] for r in runs if r["seconds"] is not None]
    bests = [r["best_pearson"] for r in runs if r["best_pearson"] is not None]
    started = sorted(r["started"] for r in runs if r["started"])
    return {
        "id": sweep_dir.name,
        "command": "slurm" if (sweep_dir / "slurm.sbatch").is_file() else "compare",
        "mode": plan.mode,
        "preset": _span(preset),
        "go": _span(go),
        "variant": _span(plan.variants),
        "seed": seeds[0] if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}",
        "status": status,
        "ended": None,
        "epochs": None,
        "steps": None,
        "best_pearson": max(bests, default=None),
        "final_pearson": None,
        "test_pearson": None,
        "seconds": sum(seconds) if seconds else None,
        "started": started[0] if started else None,
        "runs": f"{done}/{planned}",
        "holder": None,
        "path": str(sweep_dir),
        "config": None,
    }


def list_runs(root: str | Path, sweeps: bool = True) -> list[dict[str, Any]]:
    """Rows for ``root``: itself if it is a run, its runs if it is a sweep, else every run and
    sweep directly inside it (in name order, i.e. by start time). A directory whose files cannot
    be read is a ``warning:`` line and no row."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"{root}: no such runs directory")
    if (root / "config.json").is_file():
        candidates = [root]
    else:
        candidates = sorted(p for p in root.iterdir() if p.is_dir())
    if (root / PLAN).is_file():
        sweeps = False  # a sweep directory: list its runs
    out = []
    for path in candidates:
        try:
            if (path / "config.json").is_file():
                out.append(run_row(path))
            elif sweeps and (path / PLAN).is_file():
                out.append(sweep_row(path))
        except (DcellxError, OSError, ValueError, KeyError, TypeError) as exc:
            what = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            warn(f"{path}: not listed ({' '.join(what.split())[:200]})")
    return out


def _value(row: dict[str, Any], key: str) -> Any:
    if key in COLUMNS:
        return row.get(key)
    if row.get("config") is None:  # a sweep has no single config
        return None
    try:
        return _lookup(row["config"], key)
    except (KeyError, TypeError):
        return None


def check_key(key: str, flag: str) -> None:
    """A ``--sort``/``--where`` key is a column or a config field (``lr``, ``model.alpha``)."""
    if key in COLUMNS:
        return
    try:
        route(key)
    except ConfigError:
        raise ConfigError(
            f"{flag} {key}: not a column ({', '.join(COLUMNS)}) nor a config field"
        ) from None


def select(
    rows: list[dict[str, Any]], where: list[str] | None = None, sort: str | None = None
) -> list[dict[str, Any]]:
    """Rows matching every ``key=value`` of ``where`` (a value as the config holds it: ``lr=1e-3``
    matches 0.001), sorted by ``sort`` (``-key``: descending; missing values last)."""
    for item in where or []:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--where expects key=value, got {item!r}")
        check_key(key, "--where")
        want = parse_value(text.strip())
        rows = [r for r in rows if _matches(_value(r, key), want, text.strip())]
    if sort:
        key, reverse = sort.lstrip("-"), sort.startswith("-")
        check_key(key, "--sort")
        present = [r for r in rows if _value(r, key) is not None]
        absent = [r for r in rows if _value(r, key) is None]

        def order(r: dict[str, Any]) -> tuple[bool, Any]:
            v = _value(r, key)  # numbers by value, anything else (a seed range "0-2") as text
            number = isinstance(v, int | float)
            return (not number, float(v) if number else str(v))

        rows = sorted(present, key=order, reverse=reverse) + absent
    return rows


def _matches(value: Any, want: Any, text: str) -> bool:
    if value is None:
        return text in ("", "null", "None")
    if isinstance(value, bool) or isinstance(want, bool):
        return value is want or str(value).lower() == text.lower()
    if isinstance(value, int | float) and isinstance(want, int | float):
        return math.isclose(value, want, rel_tol=1e-12, abs_tol=0.0) or value == want
    return str(value) == text


def public(row: dict[str, Any]) -> dict[str, Any]:
    """A row as ``--json`` prints it (the columns, not the whole config)."""
    return {k: row.get(k) for k in COLUMNS}
