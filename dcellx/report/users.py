"""The users' setting: their GO builds, their model, their screen design, their overfit test.

One fixed batch of 32 simulated ``trigenic-sga`` records (the Kuzmin 2018 design: query pairs x
array genes, labels at the users' tau statistics), up to 500 epochs of Adam lr 1e-3, Pearson of
the training forward pass and of an eval-mode forward every epoch, a run stopping once train-mode
r >= 0.999 for 20 epochs. Every sweep is resumable (one run directory per point, found again by
its resolved config), so an interrupted report continues where it stopped.

Sweeps (three seeds each):

* ``users-main``: ``dcell-new`` x GO {torchcell-2017, torchcell-latest} x deletion rule {exact,
  torchcell-index-guard} x norm {batch, layer} x batch {first 32, a seeded draw};
* ``users-presets``: presets ``paper`` and ``torchcell`` on both builds and on ``--go 2017``;
* ``users-dna``: ``dcell-new`` on the real DNA-repair pairs (``--go dna-repair``);
* ``users-embeddings``: the embedding variants under ``dcell-new`` on ``torchcell-latest``;
* ``users-guard-embeddings`` (and ``-large``: the flattened and attention forms, one seed, their
  runs cost 5-10x the others): every embedding variant under the index guard on both builds,
  ``guard_epochs`` epochs (no run can stop at r >= 0.999 when its ceiling is lower);
* ``users-embedding-scale``: the flattened embedding with e_g drawn at 1 and at ``1/sqrt(d)``,
  ``scale_epochs`` epochs, and the tanh saturation of each run's best weights (``saturation.csv``
  in the sweep directory, kept beside its tables): the plateau of ``users-embeddings``, see
  ``EMBEDDING_STD``;
* ``users-generalisation`` (train mode, real data): binary, the embeddings and the additive and
  pairwise baselines on the DNA-repair pairs, split by its own test file (``random``), by held-out
  genes and by held-out gene pairs; ``-fixed``: the embeddings with e_g fixed at its random draw;
* ``users-walk`` (only when a main cell reproduces the 0.45 / 0.80 gap): from that cell towards
  ``paper`` one change at a time;
* ``users-rawlabels``: the cells closest to the plateau again with ``--label-norm none``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dcellx.data.datasets import load_dataset
from dcellx.data.genotypes import GenotypeDataset
from dcellx.data.trigenic import simulate_trigenic
from dcellx.data.universe import load_ontology_with_datasets
from dcellx.diagnose.ceiling import identifiability_ceiling
from dcellx.report.ceilings import many_batch_study
from dcellx.report.cells import TEST_METRICS, _num, cells, saturation_by_cell
from dcellx.report.sweeps import read_table
from dcellx.report.sweeps import sweep as _sweep
from dcellx.train.compare import RunSpec, SweepResult, collect
from dcellx.train.data import overfit_rows

GOS = ["torchcell-2017", "torchcell-latest"]
RULES = ["exact", "torchcell-index-guard"]
NORMS = ["batch", "layer"]
BATCHES: dict[str, int | None] = {"first-32": None, "shuffled": 1}
EMBEDDINGS = [
    "embedding",
    "embedding-pooled",
    "embedding-deepset",
    "embedding-attention",
]
# A reproduction (the users' 0.45 versus 0.80): seed-mean train-mode r in this band on the
# date-filtered build, and at least GAP higher on the newest build with disjoint seed ranges.
BAND = (0.35, 0.55)
GAP = 0.2
# One change at a time from a reproducing dcell-new cell towards the paper's model.
WALK: list[tuple[str, dict[str, Any]]] = [
    ("deletion rule exact", {"deletion_rule": "exact"}),
    ("widths from contained genes, ceil", {"width_basis": "contained", "width_rounding": "ceil"}),
    ("no root extra input", {"root_extra_input": "none"}),
    ("state 1 = disrupted", {"gene_state": "disrupted-one"}),
    ("BatchNorm", {"norm": "batch"}),
    ("auxiliary losses summed", {"aux_reduce": "sum"}),
    ("alpha 0", {"alpha": 0.0}),
]


# The flattened embedding's C_e = A_e . e_g moves by about lr * sum_k |e_gk| per Adam step (each
# coordinate of A_e steps by ~lr along sign(dL/dC_e * e_gk)), ~6.4 lr for d = 8 and e_g ~ N(0, 1),
# where binary's weight moves by lr: drawing e_g at 1/sqrt(d) divides that by sqrt(d).
EMBEDDING_STD = round(1 / 8**0.5, 5)
GENERALISATION_VARIANTS = ["binary", "embedding", "embedding-pooled", "additive", "pairwise"]
FIXED_VARIANTS = ["embedding", "embedding-pooled"]
SPLITS = ["random", "genes", "pairs"]


@dataclass
class UsersSweep:
    """One sweep of the users' setting: ``variants`` x ``grid`` x seeds of one ``spec``."""

    name: str
    variants: list[str]
    grid: dict[str, list[Any]]
    spec: RunSpec
    mode: str = "overfit"
    seeds: list[int] | None = None  # None: the plan's


@dataclass
class UsersPlan:
    """Sizes of the users'-setting experiment; ``quick`` is a smoke version for CI."""

    seeds: list[int]
    epochs: int
    data: Path
    threads: int = 1
    batch_size: int = 32
    records: int = 91050
    fit_stop_pearson: float = 0.999
    fit_stop_epochs: int = 20
    gos: list[str] = field(default_factory=lambda: list(GOS))
    norms: list[str] = field(default_factory=lambda: list(NORMS))
    batches: dict[str, int | None] = field(default_factory=lambda: dict(BATCHES))
    quick: bool = False
    many_batches: int = 1000  # Table U0: seeded batches per design (no training)
    guard_epochs: int = 200  # Table U3b: embeddings under the guard (they run to the end)
    scale_epochs: int = 150  # Table U3c: the flattened embedding at two scales of e_g
    train_epochs: int = 100  # Table U6: generalisation runs (early stopping on validation)
    splits: list[str] = field(default_factory=lambda: list(SPLITS))
    device: str = "cpu"  # every run's torch device (left out of the plans on the CPU)


def make_users_plan(
    runs_dir: Path, quick: bool, seeds: int = 3, threads: int = 1, device: str = "cpu"
) -> UsersPlan:
    """Full: 3 seeds x 500 epochs on the users' data size; quick: 1 seed x 3 epochs, batch norm,
    first-32 only, a 2,000-record file (a smoke test of every code path, not evidence)."""
    data = runs_dir / ("trigenic-sga-quick.txt" if quick else "trigenic-sga-s0.txt")
    if quick:
        return UsersPlan(
            seeds=[0], epochs=3, data=data, threads=threads, records=2000,
            norms=["batch"], batches={"first-32": None}, quick=True, many_batches=40,
            guard_epochs=3, scale_epochs=3, train_epochs=2, splits=["genes"], device=device,
        )  # fmt: skip
    return UsersPlan(
        seeds=list(range(seeds)), epochs=500, data=data, threads=threads, device=device
    )


def ensure_data(plan: UsersPlan) -> Path:
    """The simulated screen (seed 0), written once; the same bytes every time for a seed."""
    if not plan.data.exists():
        plan.data.parent.mkdir(parents=True, exist_ok=True)
        simulate_trigenic(n=plan.records, seed=0).write(plan.data)
    return plan.data


def load_screen(plan: UsersPlan) -> GenotypeDataset:
    """The simulated screen: read from its file, or, when the file is absent (a report collected
    from saved tables), simulated again in memory: the same records and labels for the seed."""
    if plan.data.exists():
        return load_dataset(str(plan.data))["train"]
    return simulate_trigenic(n=plan.records, seed=0).dataset


def _spec(plan: UsersPlan, preset: str = "dcell-new", **fields: Any) -> RunSpec:
    base = {
        "data": str(plan.data),
        "epochs": plan.epochs,
        "batch_size": plan.batch_size,
        "lr": 1e-3,
        "threads": plan.threads,
        "keep_checkpoints": "none",
        "fit_stop_pearson": plan.fit_stop_pearson,
        "fit_stop_epochs": plan.fit_stop_epochs,
    }
    if plan.device != "cpu":  # on the CPU the plans stay those of the runs already made
        base["device"] = plan.device
    base.update(fields)
    return RunSpec(preset=preset, fields=base)


def _train_spec(plan: UsersPlan) -> RunSpec:
    """The generalisation runs: the paper's model and training on the DNA-repair pairs, as
    ``dcellx compare --mode train --go dna-repair`` runs them (the same plan, so a sweep started
    from that command line is found again here)."""
    fields: dict[str, Any] = {"go": "dna-repair", "threads": plan.threads, "quiet": True}
    fields["keep_checkpoints"] = "none"
    if plan.train_epochs != 100:  # the train default, left out of the plan as the CLI does
        fields["epochs"] = plan.train_epochs
    if plan.device != "cpu":
        fields["device"] = plan.device
    return RunSpec(preset="paper", fields=fields)


def sweeps(plan: UsersPlan) -> list[UsersSweep]:
    """Every unconditional sweep, in the order they run (the order of importance)."""
    main_grid = {
        "go": plan.gos,
        "deletion_rule": RULES,
        "norm": plan.norms,
        "batch_seed": list(plan.batches.values()),
    }
    out = [UsersSweep("users-main", ["binary"], main_grid, _spec(plan))]
    emb = _spec(plan, go="torchcell-latest")
    variants = ["embedding"] if plan.quick else EMBEDDINGS
    out.append(UsersSweep("users-embeddings", variants, {}, emb))
    dna = _spec(plan, data="dcell-dna-repair", go="dna-repair")
    out.append(UsersSweep("users-dna", ["binary"], {}, dna))
    presets = {"preset": ["paper", "torchcell"], "go": [*plan.gos, "2017"]}
    out.append(UsersSweep("users-presets", ["binary"], presets, _spec(plan, "paper")))
    split = {"split": plan.splits}
    gen = GENERALISATION_VARIANTS[:2] if plan.quick else GENERALISATION_VARIANTS
    out.append(UsersSweep("users-generalisation", gen, split, _train_spec(plan), "train"))
    fixed = _train_spec(plan)
    fixed.sets["embedding_learned"] = False
    out.append(UsersSweep("users-generalisation-fixed", FIXED_VARIANTS[:1] if plan.quick
                          else FIXED_VARIANTS, split, fixed, "train"))  # fmt: skip
    # best weights kept: the saturation of each run is measured on them
    scale = _spec(plan, go="torchcell-latest", epochs=plan.scale_epochs, keep_checkpoints="best")
    out.append(UsersSweep("users-embedding-scale", ["embedding"],
                          {"embedding_init_std": [1.0, EMBEDDING_STD]}, scale))  # fmt: skip
    guard = {"go": plan.gos, "deletion_rule": ["torchcell-index-guard"]}
    gspec = _spec(plan, epochs=plan.guard_epochs)
    small = ["embedding-pooled"] if plan.quick else ["embedding-pooled", "embedding-deepset"]
    out.append(UsersSweep("users-guard-embeddings", small, guard, gspec))
    if not plan.quick:
        large = ["embedding", "embedding-attention"]
        out.append(UsersSweep("users-guard-embeddings-large", large, guard, gspec, seeds=[0]))
    return out


# A query-pair hold-out of the simulated screen (Table U7): not run by the report, because its
# data are cut from the screen by ``scripts/query_pair_holdout.py``; read when a sweep of that name
# (``dcellx compare --mode train --sweep-dir RUNS_DIR/users-query-pairs``) or its table is there.
QUERY_PAIRS = "users-query-pairs"


def query_pair_cells(sweep_dir: Path) -> list[dict[str, Any]]:
    """Table U7's cells (variant x ``embedding_learned`` where swept), or none."""
    if (sweep_dir / "sweep.json").exists():
        res = collect(sweep_dir)
    elif (sweep_dir / "compare.csv").exists():
        res = read_table(sweep_dir)
    else:
        return []
    return cells(res, list(res.grid_keys), TEST_METRICS)


def batch_label(seed: int | None) -> str:
    return "first-32" if seed is None else f"shuffled (draw {seed})"


def cell_facts(
    plan: UsersPlan, ds: GenotypeDataset, go: str, rule: str, batch_seed: int | None
) -> dict[str, Any]:
    """For one main-grid cell: the identifiability ceiling of its batch (of ``ds``, the screen)
    under its deletion rule, the perturbed genes the model cannot see, and the distinct effective
    inputs among the 32."""
    batch = ds.subset(overfit_rows(len(ds), plan.batch_size, batch_seed))
    onto = load_ontology_with_datasets(go)
    c = identifiability_ceiling(batch, onto, deletion_rule=rule)
    return {
        "ceiling_pearson": c["ceiling_pearson"],
        "distinct_inputs": c["distinct_inputs"],
        "wildtype_inputs": c["wildtype_inputs"],
        "invisible_genes": c["unknown_genes"] + c["hidden_genes"],
        "unknown_genes": c["unknown_genes"],
        "hidden_genes": c["hidden_genes"],
        "query_pairs": len({tuple(sorted(g[:2])) for g in batch.genes}),
    }


def reproductions(main: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pairs of main cells (same rule, norm, batch) where torchcell-2017 sits in ``BAND`` and
    torchcell-latest is at least ``GAP`` higher with disjoint seed ranges (train-mode, final)."""
    by = {(c["go"], c["deletion_rule"], c["norm"], c["batch_seed"]): c for c in main}
    found = []
    for (go, rule, norm, bs), old in by.items():
        new = by.get(("torchcell-latest", rule, norm, bs))
        if go != "torchcell-2017" or new is None:
            continue
        a, b = old["final_pearson_train_bn"], new["final_pearson_train_bn"]
        if a["mean"] is None or b["mean"] is None or a["undefined"] or b["undefined"]:
            continue  # a collapsed seed is no plateau: every seed must be defined
        if BAND[0] <= a["mean"] <= BAND[1] and b["mean"] - a["mean"] >= GAP and b["min"] > a["max"]:
            found.append(
                {"deletion_rule": rule, "norm": norm, "batch_seed": bs, "old": a, "new": b}
            )
    return found


def closest_to_plateau(main: list[dict[str, Any]], k: int = 2) -> list[dict[str, Any]]:
    """The ``k`` torchcell-2017 cells whose seed-mean train-mode r is nearest the users' 0.4548."""
    old = [c for c in main if c["go"] == "torchcell-2017" and c["final_pearson_train_bn"]["mean"]]
    return sorted(old, key=lambda c: abs(c["final_pearson_train_bn"]["mean"] - 0.4548))[:k]


def walk_sweeps(plan: UsersPlan, cell: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(label, model overrides) of the one-change walk from a reproducing cell, on both builds."""
    base = {"deletion_rule": cell["deletion_rule"], "norm": cell["norm"]}
    return [(label, {**base, **change}) for label, change in WALK if change != base]


def run_users(
    plan: UsersPlan, runs_dir: Path, console: Any, collect_only: bool = False
) -> dict[str, Any]:
    """Run (or reuse) every users'-setting sweep; returns the cell tables and facts for the report.

    The order is the order of importance, so an interrupted report has the main grid first.
    ``collect_only``: run nothing, report what the sweep directories hold (missing points are
    counted in ``out["missing"]``), e.g. while the sweeps still run in another process.
    """

    results: list[SweepResult] = []

    def sweep(plan, name, variants, grid, spec, runs_dir, console) -> SweepResult:
        results.append(
            _sweep(plan, name, variants, grid, spec, runs_dir, console, run=not collect_only)
        )
        return results[-1]

    if not collect_only:  # collecting writes nothing, the screen included
        ensure_data(plan)
    out: dict[str, Any] = {"plan": plan, "sweeps": {}}
    for sw in sweeps(plan):
        out["sweeps"][sw.name] = _sweep(
            plan, sw.name, sw.variants, sw.grid, sw.spec, runs_dir, console,
            run=not collect_only, mode=sw.mode, seeds=sw.seeds,
        )  # fmt: skip
        results.append(out["sweeps"][sw.name])
    out["missing"] = {n: len(r.missing) + len(r.failed) for n, r in out["sweeps"].items()}
    main = cells(out["sweeps"]["users-main"], ["go", "deletion_rule", "norm", "batch_seed"])
    main.sort(key=lambda c: (c["go"], c["deletion_rule"], c["norm"], c["batch_seed"] is not None))
    screen = load_screen(plan)  # read once, not once per cell
    for c in main:
        c.update(cell_facts(plan, screen, c["go"], c["deletion_rule"], c["batch_seed"]))
    out["main"] = main
    builds = {go: load_ontology_with_datasets(go) for go in plan.gos}
    out["many_batches"] = many_batch_study(screen, builds, plan.many_batches, plan.batch_size)
    out["presets"] = cells(out["sweeps"]["users-presets"], ["preset", "go"])
    out["dna"] = cells(out["sweeps"]["users-dna"], [])
    out["embeddings"] = cells(out["sweeps"]["users-embeddings"], [])
    scale = out["sweeps"]["users-embedding-scale"]
    out["embedding_scale"] = cells(scale, ["embedding_init_std"])
    saturation = saturation_by_cell(scale, ["embedding_init_std"], write=not collect_only)
    for c in out["embedding_scale"]:
        c["saturation"] = saturation.get(str(float(c["embedding_init_std"])))
    guard = cells(out["sweeps"]["users-guard-embeddings"], ["go"])
    if "users-guard-embeddings-large" in out["sweeps"]:
        guard += cells(out["sweeps"]["users-guard-embeddings-large"], ["go"])
    for c in guard:  # the ceiling of the same batch under the same rule (Table U1's facts)
        c.update(cell_facts(plan, screen, c["go"], "torchcell-index-guard", None))
    out["guard_embeddings"] = sorted(guard, key=lambda c: (c["go"], c["variant"]))
    gen = cells(out["sweeps"]["users-generalisation"], ["split"], TEST_METRICS)
    fixed = cells(out["sweeps"]["users-generalisation-fixed"], ["split"], TEST_METRICS)
    gen += [{**c, "variant": f"{c['variant']} (fixed e_g)"} for c in fixed]
    out["generalisation"] = gen
    out["query_pairs"] = query_pair_cells(runs_dir / QUERY_PAIRS)
    out["reproductions"] = reproductions(main)
    out["walk"] = []
    for rep in out["reproductions"][:1]:
        for i, (label, model) in enumerate(walk_sweeps(plan, rep)):
            spec = _spec(plan, batch_seed=rep["batch_seed"])
            spec.sets.update(model)
            res = sweep(
                plan, f"users-walk-{i}", ["binary"], {"go": plan.gos}, spec, runs_dir, console
            )
            out["walk"].append({"change": label, "cells": cells(res, ["go"])})
            out["missing"][res.sweep_dir.name] = len(res.missing) + len(res.failed)
    out["rawlabels"] = []
    for i, c in enumerate(closest_to_plateau(main)):
        spec = _spec(plan, batch_seed=c["batch_seed"], label_norm="none")
        spec.sets.update({"deletion_rule": c["deletion_rule"], "norm": c["norm"]})
        res = sweep(
            plan, f"users-rawlabels-{i}", ["binary"], {"go": plan.gos}, spec, runs_dir, console
        )
        out["rawlabels"].append({"cell": c, "cells": cells(res, ["go"])})
        out["missing"][res.sweep_dir.name] = len(res.missing) + len(res.failed)
    # the sweeps' cost, from the runs themselves: with --collect-only (or after a resumed sweep)
    # this process's own wall time says nothing about it
    runs = [r for res in results for r in res.runs]
    out["runs"] = len(runs)
    out["run_seconds"] = sum(_num(r.get("seconds")) or 0.0 for r in runs)
    return out
