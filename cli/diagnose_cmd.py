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

from dcellx.data.simulate import read_gene_file, simulate_genotypes
from dcellx.data.trigenic import DEFAULT_N, DESIGN, simulate_trigenic
from dcellx.diagnose.overview import CEILING_KEYS, batches_report, diagnose_report
from dcellx.errors import ConfigError
from dcellx.fileio import check_writable
from dcellx.train.config import DEFAULT_GO
from dcellx_cli.common import GoOpt
from dcellx_cli.devices import ModelDeviceOpt

console = Console()


def diagnose(
    go: GoOpt = DEFAULT_GO,
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
    run: Annotated[
        Path | None,
        typer.Option("--run", help="A finished run: saturation, BN gap, gradients per stratum."),
    ] = None,
    deletion_rule: Annotated[
        str,
        typer.Option(
            "--deletion-rule",
            help="exact, or torchcell-index-guard: group genotypes by their visible deletions.",
        ),
    ] = "exact",
    vocabulary: Annotated[
        Path | None,
        typer.Option(
            "--vocabulary",
            help="Gene names one a line in your order (e.g. torchcell's 6,607): the positions "
            "torchcell's index guard compares. Default: the build's recorded vocabulary.",
        ),
    ] = None,
    batches: Annotated[
        int | None,
        typer.Option(
            "--batches",
            min=1,
            help="Ceilings over N seeded batches of --batch-size (no training): median and "
            "5-95 percent range per deletion rule and vocabulary order.",
        ),
    ] = None,
    design: Annotated[
        str,
        typer.Option(
            "--design",
            help="--batches: first (consecutive records from a seeded offset), random, or "
            "query-pair (records of one query: a record's genes but the last).",
        ),
    ] = "first",
    seed: Annotated[int, typer.Option("--seed", min=0, help="--batches: the first seed.")] = 0,
    shuffles: Annotated[
        int,
        typer.Option("--shuffles", min=0, help="--batches: seeded shuffled vocabulary orders."),
    ] = 2,
    device: ModelDeviceOpt = "cpu",
) -> None:
    """What any model could fit, before training: identifiability ceiling under both deletion
    rules, the deletions torchcell's index guard hides, coverage, capacity."""
    if run is not None:
        _run_diagnostics(run, as_json, device)
        return
    if device != "cpu":
        raise ConfigError(f"--device {device}: only --run runs a model; add --run RUN")
    if batches is not None:
        if split is not None:
            raise ConfigError("--batches draws batches from the whole file: drop --split")
        dist = batches_report(
            go, data, batches, design, batch_size or 32, seed, vocabulary, shuffles
        )
        if as_json:
            typer.echo(json.dumps(dist, indent=2))
        else:
            _print_batches(dist)
        return
    report = diagnose_report(go, data, batch_size, split, compare_go, deletion_rule, vocabulary)
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
    title = f"identifiability ceiling: --go {r['go']}, {r['data']} ({r['scope']})"
    if r["deletion_rule"] != "exact":
        title += f", --deletion-rule {r['deletion_rule']}"
    t = Table(title=title)
    t.add_column("quantity")
    t.add_column("value", justify="right")
    keys = (*CEILING_KEYS, "shared_input_samples", "largest_group")
    if r["deletion_rule"] != "exact":
        keys += ("hidden_genes", "hidden_gene_occurrences")
    for key in keys:
        t.add_row(key, _fmt(r[key]))
    if r["unknown_gene_names"]:
        names = r["unknown_gene_names"]
        t.add_row("unknown (first 10)", " ".join(names[:10]) + (" ..." if len(names) > 10 else ""))
    console.print(t)
    _print_rules(r)
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


def _q(s: dict, digits: int) -> str:
    """``median [q05, q95]`` of a ``summarise`` entry."""
    if s["median"] is None:
        return "undefined"
    return f"{s['median']:.{digits}f} [{s['q05']:.{digits}f}, {s['q95']:.{digits}f}]"


def _print_batches(d: dict) -> None:
    t = Table(
        title=f"ceilings over {d['batches']:,} batches of {d['batch_size']} ({d['design']} design, "
        f"seeds from {d['seed']}): --go {d['go']}, {d['data']} ({d['records']:,} records); "
        "median [5 %, 95 %]"
    )
    for col in ("vocabulary order", "deletion rule", "ceiling", "undefined", "distinct inputs",
                "as wild type", "the file's first batch"):  # fmt: skip
        t.add_column(col)
    for order, rules in d["orders"].items():
        for rule, e in rules.items():
            if rule == "exact" and order != next(iter(d["orders"])):
                continue  # exact deletions read no vocabulary position: one row says it all
            f = e["first_batch"]
            t.add_row(
                order if rule != "exact" else "any",
                rule,
                _q(e["ceiling"], 3),
                str(e["ceiling"]["undefined"]),
                _q(e["distinct_inputs"], 0),
                _q(e["wildtype_inputs"], 0),
                f"r {_fmt(f['ceiling'])}, {f['distinct_inputs']} inputs",
            )
    console.print(t)
    console.print(f"({d['distinct_batches']:,} distinct batches; {d['seconds']:.2f} s)")


SHOWN_HIDDEN = 40  # genotypes listed in the text output (--json lists up to 200)


def _print_rules(r: dict) -> None:
    """Both deletion rules side by side, then the genotypes whose deletions the guard hides."""
    vocab = r["vocabulary"]
    t = Table(title=f"both deletion rules (guard positions from {vocab['source']}, "
                    f"{vocab['size']:,} genes)")  # fmt: skip
    t.add_column("quantity")
    for rule in r["rules"]:
        t.add_column(rule, justify="right")
    for key in ("distinct_inputs", "wildtype_inputs", "hidden_genes", "unknown_genes"):
        t.add_row(key, *(_fmt(c[key]) for c in r["rules"].values()))
    t.add_row("ceiling_pearson", *(_fmt(c["ceiling_pearson"]) for c in r["rules"].values()))
    console.print(t)
    h = r["hidden"]
    if not h["genotypes"]:
        console.print(f"{h['rule']}: no deletion of these {r['samples']} genotypes is hidden")
        return
    k = Table(
        title=f"{h['rule']}: {h['genotypes']} of {r['samples']} genotypes have hidden deletions, "
        f"{h['wild_type']} reach the model as wild type (gene position >= the term's direct "
        "genes hides it there)"
    )
    for col in ("record", "genotype", "as wild type", "hidden deletions"):
        k.add_column(col)
    for g in h["listed"][:SHOWN_HIDDEN]:
        parts = []
        for x in g["hidden"]:
            terms = ", ".join(
                f"{t['term']} {t['name']} (n={t['direct_genes']:,})" for t in x["hidden_in"][:2]
            )
            more = len(x["hidden_in"]) - 2
            terms += f", +{more}" if more > 0 else ""
            parts.append(
                f"{x['gene']} @{x['position']:,}: hidden in {len(x['hidden_in'])} of {x['terms']} "
                f"terms "
                f"({terms})"
            )
        parts += [f"{n}: not in the build" for n in g["not_in_build"]]
        k.add_row(str(g["record"]), " ".join(g["genes"]), "yes" if g["wild_type"] else "no",
                  "\n".join(parts))  # fmt: skip
    console.print(k)
    if h["genotypes"] > SHOWN_HIDDEN:
        console.print(f"... {h['genotypes'] - SHOWN_HIDDEN} more (--json lists up to 200)")


def simulate(
    out: Annotated[Path, typer.Option("--out", help="Output genotype file (DCell format).")],
    design: Annotated[
        str,
        typer.Option(
            "--design",
            help="random: distinct random gene sets; trigenic-sga: query pairs x array genes, "
            "grouped by query pair, labels on Kuzmin 2018 tau's scale.",
        ),
    ] = "random",
    genes: Annotated[
        Path | None,
        typer.Option("--genes", help="Gene list, one per line (default: costanzo-2016-genes)."),
    ] = None,
    order: Annotated[
        int | None, typer.Option("--order", help="Genes per genotype: 2 or 3 (trigenic-sga: 3).")
    ] = None,
    n: Annotated[
        int | None,
        typer.Option(
            "--n", help="Number of distinct genotypes (random: 10000, trigenic-sga: 91050)."
        ),
    ] = None,
    n_genes: Annotated[
        int | None,
        typer.Option(
            "--n-genes",
            help="trigenic-sga: genes drawn from the list (default 1400; all of a --genes list).",
        ),
    ] = None,
    query_pairs: Annotated[
        int | None,
        typer.Option(
            "--query-pairs",
            help="trigenic-sga: query pairs (default: fewest whose screens hold --n records).",
        ),
    ] = None,
    teacher: Annotated[
        str, typer.Option("--teacher", help="Teacher: additive or dcell (random design).")
    ] = "additive",
    teacher_go: Annotated[
        str, typer.Option("--teacher-go", help="dcell teacher: its ontology recipe.")
    ] = DEFAULT_GO,
    noise: Annotated[float, typer.Option("--noise", help="Noise standard deviation.")] = 0.1,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
) -> None:
    """Write a synthetic genotype screen with planted effects (marked synthetic in its header)."""
    t0 = time.perf_counter()
    check_writable(out)  # before minutes of simulation
    gene_list = read_gene_file(genes) if genes is not None else None
    if design == DESIGN:
        if order not in (None, 3):
            raise ConfigError(f"--design {DESIGN} makes triple mutants: --order must be 3")
        if teacher != "additive":
            raise ConfigError(f"--design {DESIGN} has its own teacher (no --teacher {teacher})")
        tri = simulate_trigenic(
            gene_list,
            DEFAULT_N if n is None else n,
            n_genes,
            query_pairs,
            noise,
            seed,
            gene_source=None if genes is None else f"file:{genes}",
        )
        tri.write(out)
        p, st = tri.params, tri.stats
        console.print(
            f"{out}: {len(tri.dataset):,} synthetic triple mutants ({DESIGN}: "
            f"{p['query_pairs']} query pairs x {p['array_genes']} array genes, {p['genes']} genes "
            f"from {p['gene_source']}, seed {seed}); tau mean {st['mean']:.4f} sd {st['sd']:.4f} "
            f"min {st['min']:.3f}, {st['nonnegative']} >= 0 ({time.perf_counter() - t0:.2f} s)"
        )
        return
    if design != "random":
        raise ConfigError(f"--design must be random or {DESIGN}, not {design!r}")
    for flag, value in (("--n-genes", n_genes), ("--query-pairs", query_pairs)):
        if value is not None:
            raise ConfigError(f"{flag} is only used with --design {DESIGN}")
    order = 2 if order is None else order
    n = 10_000 if n is None else n
    teacher_fn = None
    if teacher == "dcell":
        from dcellx.diagnose.teacher import dcell_teacher

        teacher_fn = dcell_teacher(teacher_go, seed)
    screen = simulate_genotypes(gene_list, order, n, teacher, noise, seed, teacher_fn=teacher_fn)
    screen.write(out)
    console.print(
        f"{out}: {len(screen.dataset):,} synthetic genotypes (order {order}, teacher {teacher}, "
        f"noise {noise}, seed {seed}), {len(screen.pair_effects):,} planted pairs "
        f"({time.perf_counter() - t0:.2f} s)"
    )


def register(app: typer.Typer) -> None:
    """Add ``diagnose`` and ``rlipp`` to the top-level app."""
    app.command("rlipp")(rlipp_command)
    app.command("diagnose")(diagnose)


def register_simulate(data_app: typer.Typer) -> None:
    """Add ``simulate`` to the ``data`` command group."""
    data_app.command("simulate")(simulate)


def _run_diagnostics(run: Path, as_json: bool, device: str) -> None:
    from dcellx.diagnose.run_stats import run_diagnostics

    out = run_diagnostics(run, device=device)
    if as_json:
        typer.echo(json.dumps(out, indent=2))
        return
    table = Table(title=f"run diagnostics: {run} ({out['samples']} samples, train-mode forward)")
    cols = ["stratum", "neurons", "saturated_fraction", "bn_mean_gap", "bn_logvar_gap"]
    cols += ["constant_neurons", "grad_norm"]
    for c in cols:
        table.add_column(c, justify="right")
    for r in out["strata"]:
        table.add_row(
            *(f"{r[c]:.4g}" if isinstance(r.get(c), float) else str(r.get(c, "-")) for c in cols)
        )
    Console().print(table)


def rlipp_command(
    run: Annotated[Path, typer.Option("--run", help="A finished run directory.")],
    target: Annotated[str, typer.Option(help="prediction (NeST-VNN) or phenotype.")] = "prediction",
    top: Annotated[int, typer.Option(help="Terms to print.")] = 15,
    device: ModelDeviceOpt = "cpu",
) -> None:
    """RLIPP per term (PCA k=4, ridge 5-fold CV, Spearman); writes rlipp.csv in the run."""
    from dcellx.diagnose.run_stats import RLIPP_COLUMNS, write_rlipp

    if target not in ("prediction", "phenotype"):
        raise typer.BadParameter("--target must be prediction or phenotype")
    rows, csv_path = write_rlipp(run, target, device)
    cols = RLIPP_COLUMNS
    ranked = sorted((r for r in rows if r["rlipp"] == r["rlipp"]), key=lambda r: -r["rlipp"])
    table = Table(title=f"top {top} terms by RLIPP (target: {target}) -> {csv_path}")
    for c in cols:
        table.add_column(c)
    for r in ranked[:top]:
        table.add_row(*(f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c]) for c in cols))
    Console().print(table)
