"""``dcellx diagnose`` and ``dcellx data simulate``: thin wrappers over ``dcellx.diagnose`` and
``dcellx.data.simulate``. The lead wires them in with ``register(app)`` and
``register_simulate(data_app)``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cli.common import GoOpt
from dcellx.data.genotypes import GenotypeDataset, load_dataset
from dcellx.data.simulate import read_gene_file, simulate_genotypes
from dcellx.diagnose.capacity import capacity
from dcellx.diagnose.ceiling import identifiability_ceiling
from dcellx.diagnose.coverage import coverage
from dcellx.errors import ConfigError
from dcellx.ontology.build import load_ontology
from dcellx.ontology.compiled import CompiledOntology

console = Console()

CEILING_KEYS = (
    "samples",
    "distinct_inputs",
    "wildtype_inputs",
    "unknown_genes",
    "unknown_gene_occurrences",
    "ceiling_pearson",
    "ceiling_mse",
)


def select_samples(
    ds: GenotypeDataset, batch_size: int | None, split: str | None
) -> tuple[GenotypeDataset, str]:
    """The overfit batch (first ``batch_size`` rows of the training file), or the whole split."""
    if split not in (None, "train"):
        raise ConfigError(f"--split must be 'train' (the whole training split), not {split!r}")
    if split == "train" or batch_size is None:
        return ds, "train"
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, not {batch_size}")
    return ds.subset(slice(0, batch_size)), f"first {min(batch_size, len(ds))} of train"


def diagnose(
    go: GoOpt = "2017",
    data: Annotated[
        str, typer.Option("--data", help="Registered dataset or genotype file.")
    ] = "dcell-dna-repair",
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", help="Overfit batch: first N training genotypes.")
    ] = 32,
    split: Annotated[
        str | None, typer.Option("--split", help="'train' = the whole training split.")
    ] = None,
    compare_go: Annotated[
        str, typer.Option("--compare-go", help="Comma-separated recipes for the coverage table.")
    ] = "2017,2018",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """What any model could fit, before training: identifiability ceiling, coverage, capacity."""
    t0 = time.perf_counter()
    onto = load_ontology(go)
    sample, scope = select_samples(load_dataset(data)["train"], batch_size, split)
    ontos: dict[str, CompiledOntology] = {go: onto}
    for other in (s.strip() for s in compare_go.split(",")):
        if other and other not in ontos:
            ontos[other] = load_ontology(other)
    ceiling = identifiability_ceiling(sample, onto)
    report = {
        "go": go,
        "data": data,
        "scope": scope,
        **{k: ceiling[k] for k in CEILING_KEYS},
        "shared_input_samples": ceiling["shared_input_samples"],
        "largest_group": ceiling["largest_group"],
        "unknown_gene_names": ceiling["unknown_gene_names"],
        "coverage": coverage(sample, ontos),
        "capacity": capacity(onto),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    _print_tables(report)


def _fmt(v: object) -> str:
    if v is None:
        return "undefined"
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 10 else f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def _print_tables(r: dict) -> None:
    t = Table(title=f"identifiability ceiling: --go {r['go']}, {r['data']} ({r['scope']})")
    t.add_column("quantity")
    t.add_column("value", justify="right")
    for key in (*CEILING_KEYS, "shared_input_samples", "largest_group"):
        t.add_row(key, _fmt(r[key]))
    if r["unknown_gene_names"]:
        names = r["unknown_gene_names"]
        t.add_row("unknown (first 10)", " ".join(names[:10]) + (" ..." if len(names) > 10 else ""))
    console.print(t)
    c = Table(title="gene coverage (terms reached = direct terms + ancestors)")
    cols = {
        "genes": "distinct perturbed genes",
        "visible_genes": "visible (ontology inputs)",
        "visible_fraction": "visible fraction",
        "samples_fully_visible": "samples with all genes visible",
        "terms_reached_mean": "terms reached per gene: mean",
        "terms_reached_median": "terms reached per gene: median",
        "terms_reached_max": "terms reached per gene: max",
        "genes_reaching_0": "genes reaching no term",
    }
    c.add_column("quantity")
    for label in r["coverage"]:
        c.add_column(f"--go {label}", justify="right")
    for col, header in cols.items():
        c.add_row(header, *(_fmt(row[col]) for row in r["coverage"].values()))
    console.print(c)
    cap = r["capacity"]
    k = Table(title=f"capacity (paper preset) on {cap['ontology']}")
    k.add_column("quantity")
    k.add_column("value", justify="right")
    for key in ("terms", "neurons", "params", "params_linear", "params_batchnorm", "params_aux"):
        k.add_row(key, _fmt(cap[key]))
    k.add_row("width min-max", f"{cap['width_min']}-{cap['width_max']}")
    k.add_row("neurons per stratum", " ".join(str(x) for x in cap["neurons_per_stratum"]))
    for label, count in cap["width_histogram"].items():
        k.add_row(f"terms of width {label}", _fmt(count))
    console.print(k)
    console.print(f"({r['seconds']:.2f} s)")


def simulate(
    out: Annotated[Path, typer.Option("--out", help="Output genotype file (DCell format).")],
    genes: Annotated[
        Path | None,
        typer.Option("--genes", help="Gene list, one per line (default: costanzo-2016-genes)."),
    ] = None,
    order: Annotated[int, typer.Option("--order", help="Genes per genotype: 2 or 3.")] = 2,
    n: Annotated[int, typer.Option("--n", help="Number of distinct genotypes.")] = 10_000,
    teacher: Annotated[str, typer.Option("--teacher", help="Teacher: additive.")] = "additive",
    noise: Annotated[float, typer.Option("--noise", help="Noise standard deviation.")] = 0.1,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
) -> None:
    """Write a synthetic genotype screen with planted effects (marked synthetic in its header)."""
    t0 = time.perf_counter()
    gene_list = read_gene_file(genes) if genes is not None else None
    screen = simulate_genotypes(gene_list, order, n, teacher, noise, seed)
    screen.write(out)
    console.print(
        f"{out}: {len(screen.dataset):,} synthetic genotypes (order {order}, teacher {teacher}, "
        f"noise {noise}, seed {seed}), {len(screen.pair_effects):,} planted pairs "
        f"({time.perf_counter() - t0:.2f} s)"
    )


def register(app: typer.Typer) -> None:
    """Add ``diagnose`` to the top-level app."""
    app.command("diagnose")(diagnose)


def register_simulate(data_app: typer.Typer) -> None:
    """Add ``simulate`` to the ``data`` command group."""
    data_app.command("simulate")(simulate)
