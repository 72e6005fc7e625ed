"""Table U0 and its figure: identifiability ceilings over many batches of the simulated screen.

No training: for both builds x both deletion rules x the three batch designs of
``dcellx.diagnose.batches`` x vocabulary orders (the recipe's sorted one and seeded shuffles),
the distribution of the ceiling and of the distinct effective inputs over the same seeded
batches. Because every build, rule and order sees the same rows, builds are also compared batch
by batch (``paired``): how often the date-filtered build's ceiling under the guard is below the
newest build's, the claim a single batch cannot test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from dcellx.data.genotypes import GenotypeDataset  # noqa: E402
from dcellx.diagnose.batches import (  # noqa: E402
    DESIGNS,
    draw_batches,
    rule_values,
    summarise,
    vocabulary_orders,
)
from dcellx.nn.deletion import DELETION_RULES  # noqa: E402
from dcellx.ontology.compiled import CompiledOntology  # noqa: E402
from dcellx.train.plots import save_png  # noqa: E402

GUARD = "torchcell-index-guard"
SORTED = "recipe (sorted)"
FIGURE = "ceilings-many-batches.png"


def many_batch_study(
    screen: GenotypeDataset,
    ontos: dict[str, CompiledOntology],
    batches: int = 1000,
    batch_size: int = 32,
    seed: int = 0,
    shuffles: int = 2,
) -> dict[str, Any]:
    """``ontos``: the builds by name (two: compared batch by batch). ``rows``: one per (go,
    design, order, rule) with ``QUANTITIES`` summaries, the values of
    the file's first batch and the per-batch ceilings (``values``, for the figure); exact
    deletions read no vocabulary position, so they get one row (order "any") per build and
    design. ``paired``: per (design, order), the share of batches whose guard ceiling on
    the first build is below that on the second (both defined) and the median difference."""
    gos = list(ontos)
    first = np.arange(batch_size, dtype=np.int64)[None, :]
    plans = {d: draw_batches(screen, batch_size, batches, d, seed) for d in DESIGNS}
    rows: list[dict[str, Any]] = []
    for go in gos:
        orders = vocabulary_orders(ontos[go], SORTED, shuffles)
        for design, batch_rows in plans.items():
            for order, onto in orders.items():
                for rule in DELETION_RULES:
                    if rule == "exact" and order != SORTED:
                        continue
                    v = rule_values(screen, onto, batch_rows, rule)
                    own = rule_values(screen, onto, first, rule)
                    rows.append(
                        {
                            "go": go,
                            "design": design,
                            "order": order if rule != "exact" else "any",
                            "rule": rule,
                            **{q: summarise(v[q]) for q in ("ceiling", "distinct_inputs")},
                            "wildtype_inputs": summarise(v["wildtype_inputs"]),
                            "first_ceiling": _nan_none(own["ceiling"][0]),
                            "first_distinct": int(own["distinct_inputs"][0]),
                            "values": v["ceiling"],
                        }
                    )
    paired = []
    if len(gos) == 2:
        for design in DESIGNS:
            for order in [SORTED, *(f"shuffled (seed {k})" for k in range(shuffles))]:
                a, b = (
                    _find(rows, go=g, design=design, order=order, rule=GUARD)["values"] for g in gos
                )
                ok = ~np.isnan(a) & ~np.isnan(b)
                paired.append(
                    {
                        "design": design,
                        "order": order,
                        "batches": int(ok.sum()),
                        "lower_share": float((a[ok] < b[ok]).mean()) if ok.any() else None,
                        "median_difference": float(np.median(a[ok] - b[ok])) if ok.any() else None,
                    }
                )
    return {
        "gos": gos,
        "batches": batches,
        "batch_size": batch_size,
        "seed": seed,
        "shuffles": shuffles,
        "rows": rows,
        "paired": paired,
    }


def _nan_none(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def _find(rows: list[dict[str, Any]], **key: Any) -> dict[str, Any]:
    return next(r for r in rows if all(r[k] == v for k, v in key.items()))


def find_row(study: dict[str, Any], **key: Any) -> dict[str, Any] | None:
    """The study row matching ``key`` (go, design, order, rule), or None."""
    return next((r for r in study["rows"] if all(r[k] == v for k, v in key.items())), None)


def _q(s: dict[str, Any], digits: int = 3) -> str:
    if s["median"] is None:
        return "undefined"
    return f"{s['median']:.{digits}f} [{s['q05']:.{digits}f}, {s['q95']:.{digits}f}]"


def table_lines(study: dict[str, Any], data_name: str, command: str) -> list[str]:
    """Markdown of Table U0 (the distributions) and U0b (the builds compared batch by batch)."""
    n, b = study["batches"], study["batch_size"]
    L = [f"### Table U0: identifiability ceilings over {n:,} batches of {b} (no training)\n"]
    L.append(
        f"The simulated screen `{data_name}` (records simulated, not measured), {n:,} seeded "
        f"batches of {b} per design, the same rows for every build, rule and vocabulary order: "
        "*first* = consecutive records from a seeded offset (the layout of the file's first "
        "32: one query pair, array genes in plate order), *random* = a uniform draw, "
        "*query-pair* = random records of one query pair. Median [5 %, 95 %]; *first 32* is "
        "the file's own first batch (the one Table U1 trains on). Regenerate with "
        f"`{command}`; one build, rule set and design for any data file with `dcellx diagnose "
        f"--go GO --data FILE --batches {n} --design DESIGN [--vocabulary FILE] --json`.\n"
    )
    L.append(
        "| --go | design | deletion rule | vocabulary order | ceiling | undefined | distinct "
        "inputs | genotypes seen as wild type | first 32: ceiling, inputs |"
    )
    L.append("|---|---|---|---|---|---|---|---|---|")
    for r in study["rows"]:
        first = "undefined" if r["first_ceiling"] is None else f"{r['first_ceiling']:.3f}"
        cells = [
            r["go"], r["design"], r["rule"], r["order"], _q(r["ceiling"]),
            str(r["ceiling"]["undefined"]), _q(r["distinct_inputs"], 0),
            _q(r["wildtype_inputs"], 0), f"{first}, {r['first_distinct']}",
        ]  # fmt: skip
        L.append("| " + " | ".join(cells) + " |")
    L.append("")
    if study["paired"]:
        old, new = study["gos"]
        L.append(f"### Table U0b: {old} against {new} under the guard, batch by batch\n")
        L.append(
            f"| design | vocabulary order | batches (both defined) | share with {old} "
            f"below {new} | median difference ({old} - {new}) |"
        )
        L.append("|---|---|---|---|---|")
        for p in study["paired"]:
            share = "–" if p["lower_share"] is None else f"{p['lower_share']:.1%}"
            diff = "–" if p["median_difference"] is None else f"{p['median_difference']:+.3f}"
            L.append(f"| {p['design']} | {p['order']} | {p['batches']:,} | {share} | {diff} |")
        L.append("")
    L.append(f"![ceilings over many batches]({FIGURE})\n")
    return L


def figure(out: Path, study: dict[str, Any]) -> str:
    """One panel per design: the ceiling's 5-95 % range and median per build, rule and order,
    the file's first batch as a dot, the users' printed 0.45 / 0.80 as reference lines."""
    fig, axes = plt.subplots(1, len(DESIGNS), figsize=(13, 4.6), sharey=True)
    for ax, design in zip(np.atleast_1d(axes), DESIGNS, strict=True):
        rows = [r for r in study["rows"] if r["design"] == design]
        for i, r in enumerate(rows):
            c = r["ceiling"]
            colour = "tab:blue" if r["rule"] == "exact" else "tab:red"
            if c["median"] is not None:
                ax.vlines(i, c["q05"], c["q95"], colour, lw=6, alpha=0.35)
                ax.plot(i, c["median"], "_", color=colour, ms=16, mew=2)
            if design == "first" and r["first_ceiling"] is not None:
                ax.plot(i, r["first_ceiling"], "o", color="k", ms=3)
        labels = [
            f"{r['go'].replace('torchcell-', '')}\n"
            + ("exact" if r["rule"] == "exact" else "guard\n" + _short(r["order"]))
            for r in rows
        ]
        ax.set_xticks(range(len(rows)), labels, fontsize=6.5)
        for y, label in ((0.4548, "users' r, 2017 build"), (0.80, "users' r, newest build")):
            ax.axhline(y, ls="--", lw=0.8, color="grey")
            ax.text(0.5, y + 0.01, label, fontsize=6, ha="left", color="grey")
        ax.set_title(f"{design} design")
        ax.set_ylim(0, 1.03)
    np.atleast_1d(axes)[0].set_ylabel("identifiability ceiling (Pearson)")
    fig.suptitle(
        f"Ceilings of {study['batches']:,} simulated batches of {study['batch_size']}: median "
        "and 5-95 % (blue exact, red torchcell's index guard; dot: the file's own first 32)",
        fontsize=9,
    )
    fig.tight_layout()
    save_png(fig, out / FIGURE)
    return FIGURE


def _short(order: str) -> str:
    return "sorted" if order == SORTED else order.replace("shuffled (seed ", "shuf").rstrip(")")
