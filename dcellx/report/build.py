"""Run (or reuse) what the report needs, then write report.md and its figures."""

from __future__ import annotations

import platform
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console

from dcellx.data.datasets import load_dataset
from dcellx.data.simulate import simulate_genotypes
from dcellx.data.universe import load_ontology_with_datasets
from dcellx.diagnose.ceiling import identifiability_ceiling
from dcellx.diagnose.equivalence import equivalence_gap, pooled_column_ranks
from dcellx.report.plan import ReportPlan
from dcellx.report.sweeps import sweep
from dcellx.report.users import UsersPlan, make_users_plan, run_users
from dcellx.report.write import write_report
from dcellx.train.compare import RunSpec
from dcellx.train.config import make_run_config
from dcellx.train.data import load_run_data
from dcellx.train.loop import run
from dcellx.train.predict import load_weights


def ceilings(plan: ReportPlan, console: Console) -> list[dict]:
    """Identifiability ceilings on the real overfit batch and on simulated genome-wide pairs."""
    real = load_dataset("dcell-dna-repair")["train"]
    batch = real.subset(np.arange(plan.batch_size))
    sim = simulate_genotypes(order=2, n=plan.simulated_n, teacher="additive", noise=0.1, seed=0)
    rows = []
    for go in plan.gos:
        onto = load_ontology_with_datasets(go)
        for name, ds in (
            ("real DNA-repair overfit batch", batch),
            ("real DNA-repair training set", real),
            ("simulated genome-wide pairs, first batch", sim.dataset.subset(np.arange(32))),
            (f"simulated genome-wide pairs (n={plan.simulated_n})", sim.dataset),
        ):
            c = identifiability_ceiling(ds, onto)
            rows.append({"go": go, "data": name, **{k: c[k] for k in CEILING_KEYS}})
        console.print(f"ceilings for --go {go} done")
    return rows


CEILING_KEYS = (
    "samples",
    "distinct_inputs",
    "wildtype_inputs",
    "unknown_genes",
    "ceiling_pearson",
    "ceiling_mse",
)


def _spec(plan: ReportPlan, go: str, extra: dict | None = None, device: str = "cpu") -> RunSpec:
    fields = {"go": go, "epochs": plan.epochs, "batch_size": plan.batch_size}
    fields["threads"] = plan.threads
    if device != "cpu":  # the CPU as before: a sweep.json written without it still matches
        fields["device"] = device
    fields["keep_checkpoints"] = "none"
    return RunSpec(preset="paper", fields=fields, sets=extra or {})


def equivalence(plan: ReportPlan, runs_dir: Path, console: Console, device: str = "cpu") -> dict:
    """Train one embedding and one embedding-pooled run with weights kept (on ``device``);
    convert and compare (on the CPU)."""
    out = {}
    for variant in ("embedding", "embedding-pooled"):
        cfg = make_run_config(
            "paper",
            go=plan.lever_go,
            variant=variant,
            epochs=plan.epochs,
            batch_size=plan.batch_size,
            threads=plan.threads,
            device=device,
            keep_checkpoints="best",
            runs_dir=str(runs_dir / "equivalence"),
            quiet=True,
        )
        result = run(cfg, console=console)
        state = load_weights(result.run_dir, "best")["model"]
        data = load_run_data(cfg)
        batch = data.train.batch(data.train.rows)
        if variant == "embedding":
            out["embedding"] = {
                "run_id": result.run_dir.name,
                **equivalence_gap(state, data.onto, cfg.model, batch),
            }
        else:
            out["embedding-pooled"] = {
                "run_id": result.run_dir.name,
                **pooled_column_ranks(state, data.onto, cfg.model),
            }
    console.print("equivalence check done")
    return out


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpus": __import__("os").cpu_count(),
    }


def build_report(
    plan: ReportPlan,
    out_dir: Path,
    runs_dir: Path,
    command: str,
    console: Console,
    sections: tuple[str, ...] = ("users", "base"),
    users_plan: UsersPlan | None = None,
    collect_only: bool = False,
    device: str = "cpu",
) -> Path:
    """Everything the report needs; returns the path of report.md. ``sections``: ``users`` (the
    users' setting and the answer, run first) and/or ``base`` (the DNA-repair sections 1-5);
    ``device``: where the runs train (``users_plan`` carries its own)."""
    t0 = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    runs_dir.mkdir(parents=True, exist_ok=True)
    users = users_seconds = None
    if "users" in sections:
        up = users_plan or make_users_plan(
            runs_dir, quick=plan.quick, seeds=len(plan.seeds), threads=plan.threads, device=device
        )
        users = run_users(up, runs_dir, console, collect_only=collect_only)
        users_seconds = time.perf_counter() - t0
    ceil, variant_sweeps, lever_sweeps, equiv = [], {}, [], {}
    if "base" in sections:
        ceil = ceilings(plan, console)
        for go in plan.gos:
            spec = _spec(plan, go, device=device)
            variant_sweeps[go] = sweep(
                plan, f"variants-{go}", plan.variants, {}, spec, runs_dir, console
            )
        for lever in plan.levers:
            name = f"lever-{lever.key}"
            spec = _spec(plan, plan.lever_go, lever.sets, device)
            res = sweep(plan, name, ["binary"], {lever.key: lever.values}, spec, runs_dir, console)
            lever_sweeps.append((lever, res))
        equiv = equivalence(plan, runs_dir, console, device)
    path = write_report(
        out_dir,
        plan=plan if "base" in sections else None,
        ceilings=ceil,
        variant_sweeps=variant_sweeps,
        lever_sweeps=lever_sweeps,
        equivalence=equiv,
        machine=machine(),
        command=command,
        seconds=time.perf_counter() - t0,
        users=users,
        users_seconds=users_seconds,
    )
    console.print(f"[bold green]report written:[/] {path}")
    return path
