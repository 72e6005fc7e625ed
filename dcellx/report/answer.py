"""The numbered claims of the report's answer: at most ten, each with its figure and table (the
plain-language opening above them is ``dcellx.report.lead``).

Every sentence is generated from the users'-setting cell tables (``dcellx.report.users``); a
claim is only made when its numbers support it, and the opposite claim is made when they point the
other way (tested on constructed tables in ``tests/report/test_answer.py``).
"""

from __future__ import annotations

from typing import Any

from dcellx.report.cells import (
    AT_CEILING,
    FITS,
    at_ceiling,
    find_cell,
    seed_mean,
    seed_range,
    separated,
)
from dcellx.report.embedding_claims import (
    generalisation_sentence,
    guard_embedding_sentence,
    query_pair_sentence,
    scale_sentence,
)
from dcellx.report.lead import percent_span


def why_sentences(users: dict[str, Any]) -> list[str]:
    """(1) Why the users' DCell did not overfit the batch, in their setting."""
    main = users["main"]
    out: list[str] = []
    base = dict(norm="batch", batch_seed=None)
    ex_old = find_cell(main, go="torchcell-2017", deletion_rule="exact", **base)
    ex_new = find_cell(main, go="torchcell-latest", deletion_rule="exact", **base)
    gd_old = find_cell(main, go="torchcell-2017", deletion_rule="torchcell-index-guard", **base)
    gd_new = find_cell(main, go="torchcell-latest", deletion_rule="torchcell-index-guard", **base)
    reps = users.get("reproductions", [])
    if reps:
        r = reps[0]
        out.append(
            f"The users' gap reproduces with dcell-new, --deletion-rule {r['deletion_rule']}, "
            f"--norm {r['norm']} on the {_batch(r['batch_seed'])} batch: train-mode r "
            f"{r['old']['mean']:.3f} on torchcell-2017 versus {r['new']['mean']:.3f} on "
            "torchcell-latest, seed ranges apart (Table U1, Figure U1)."
        )
    else:
        near = _closest(main)
        tail = ""
        if near is not None:
            tail = (
                f"; the closest torchcell-2017 cell (--deletion-rule {near['deletion_rule']}, "
                f"--norm {near['norm']}, {_batch(near['batch_seed'])} batch) reaches "
                f"{seed_range(near)}"
            )
            twin = find_cell(
                main, go="torchcell-latest", deletion_rule=near["deletion_rule"],
                norm=near["norm"], batch_seed=near["batch_seed"],
            )  # fmt: skip
            if twin is not None:
                tail += f" against {seed_range(twin)} on torchcell-latest"
        out.append(
            "No cell of the main grid reproduces the users' 0.45 versus 0.80 (train-mode r in "
            f"0.35–0.55 on torchcell-2017 and at least 0.2 higher on torchcell-latest){tail} "
            "(Table U1)."
        )
    if ex_old and ex_new and gd_old and gd_new:
        exact = f"{seed_mean(ex_old):.3f} / {seed_mean(ex_new):.3f}"
        guard = f"{seed_mean(gd_old):.3f} / {seed_mean(gd_new):.3f}"
        ceil = f"{_c(gd_old)} / {_c(gd_new)}"
        lower = (seed_mean(gd_old) or 0) < (seed_mean(ex_old) or 0) - 0.05 and (
            seed_mean(gd_new) or 0
        ) < (seed_mean(ex_new) or 0) - 0.05
        if lower:
            out.append(
                f"On the first 32 records, torchcell's index guard lowers train-mode r from "
                f"{exact} (exact deletions; torchcell-2017 / torchcell-latest) to {guard}, at "
                f"identifiability ceilings of {ceil}: the 32 genotypes give only "
                f"{gd_old['distinct_inputs']} / {gd_new['distinct_inputs']} distinct effective "
                "inputs (Table U1)."
            )
        else:
            out.append(
                f"torchcell's index guard does not lower the fit on the first 32 records "
                f"({guard} with the guard versus {exact} with exact deletions, torchcell-2017 / "
                "torchcell-latest; Table U1), so it is not the cause there."
            )
    order = ordering_sentence(users, gd_old, gd_new)
    if order:
        out.append(order)
    for norm in ("batch",):  # LayerNorm has its own sentence (norm_sentences)
        cells = [c for c in main if c["norm"] == norm and c.get("ceiling_pearson") is not None]
        cells = [c for c in cells if seed_mean(c) is not None]
        if not cells:
            continue
        at = [c for c in cells if at_ceiling(c)]
        if len(at) == len(cells):
            out.append(
                f"With --norm {norm}, all {len(cells)} cells end within {AT_CEILING} of their "
                "batch's identifiability ceiling: what limits the fit there is which genotypes "
                "the model can tell apart, not its capacity or training (Table U1)."
            )
        else:
            worst = min(
                (c for c in cells if c not in at),
                key=lambda c: (seed_mean(c) or 0) - c["ceiling_pearson"],
            )
            out.append(
                f"With --norm {norm}, {len(at)} of {len(cells)} cells end at their ceiling; the "
                f"others stay below it (largest shortfall: {_describe(worst)}, r "
                f"{seed_mean(worst):.3f} "
                f"against {worst['ceiling_pearson']:.3f}), so there the model or its training "
                "limits the fit (Table U1)."
            )
    out.append(
        "Eval-mode BatchNorm is not the explanation: the users' printed Pearson is the training "
        "forward pass, the train-mode column of Table U1."
    )
    return out


def ordering_sentence(
    users: dict[str, Any], gd_old: dict[str, Any] | None, gd_new: dict[str, Any] | None
) -> str | None:
    """Whether the date-filtered build hides more under the guard: batch by batch over many
    batches (Table U0b) when the study is there, else on the one first batch, said as such."""
    study = users.get("many_batches") or {}
    paired = [p for p in study.get("paired", []) if p["lower_share"] is not None]
    one = ""
    if (
        gd_old
        and gd_new
        and None not in (gd_old.get("ceiling_pearson"), gd_new.get("ceiling_pearson"))
    ):
        one = f"{gd_old['ceiling_pearson']:.3f} against {gd_new['ceiling_pearson']:.3f}"
    if paired:
        span = percent_span([p["lower_share"] for p in paired])
        n = users["many_batches"]["batches"]
        if min(p["lower_share"] for p in paired) > 0.5:
            tail = f" (first 32: {one})" if one else ""
            return (
                f"Under the guard the date-filtered build hides more: its ceiling is below "
                f"torchcell-latest's in {span} of the same {n:,} batches per design and vocabulary "
                f"order{tail}, the ordering of the users' 0.45 / 0.80, because its terms have "
                "fewer direct genes for a gene's vocabulary position to fall below (Table U0b)."
            )
        return (
            f"Under the guard the two builds' ceilings do not order the way the users' 0.45 / "
            f"0.80 do: torchcell-2017's is below torchcell-latest's in only {span} of the same "
            f"{n:,} batches per design and vocabulary order (Table U0b)."
        )
    if not one:
        return None
    co, cn = gd_old["ceiling_pearson"], gd_new["ceiling_pearson"]
    if co < cn - 0.1:
        return (
            f"On the first 32 alone, under the guard the date-filtered build hides more "
            f"(ceiling {one} on torchcell-latest; fits {seed_mean(gd_old):.3f} / "
            f"{seed_mean(gd_new):.3f}), "
            "the ordering of the users' 0.45 / 0.80; one batch cannot show it holds in general "
            "(Table U1)."
        )
    return (
        f"Under the guard the two builds' ceilings on the first 32 do not separate "
        f"({co:.3f} on torchcell-2017, {cn:.3f} on torchcell-latest), so the guard does "
        "not explain a gap between the builds there (Table U1)."
    )


def embedding_sentences(users: dict[str, Any]) -> list[str]:
    """(2) What the learnable gene embedding adds: the algebra, then the measured fits."""
    out = [
        "Algebraically, the flattened and per-gene embedding forms are re-parameterisations of "
        "the binary gene columns (A vec(s_g e_g) = sum_g s_g A_g e_g), pooling ties those columns "
        "to rank at most d, and only mixing across a term's genes (Deep Sets, attention) adds a "
        "function class (`dcellx.diagnose.equivalence` checks the first on trained runs)."
    ]
    binary = find_cell(
        users["main"], go="torchcell-latest", deletion_rule="exact", norm="batch", batch_seed=None
    )
    emb = [c for c in users.get("embeddings", []) if seed_mean(c) is not None]
    if binary is None or seed_mean(binary) is None or not emb:
        return out
    better = [c for c in emb if separated(c, binary) and seed_mean(c) > seed_mean(binary)]
    worse = [c for c in emb if separated(binary, c) and seed_mean(c) < seed_mean(binary)]
    parts = ", ".join(f"{c['variant']} {seed_range(c)}" for c in emb)
    room = (
        ", where binary already fits, so no variant can fit better"
        if seed_mean(binary) >= FITS
        else ""
    )
    lead = (
        f"Measured only with exact deletions (dcell-new, torchcell-latest, first 32){room}: "
        f"binary {seed_range(binary)}; "
    )
    if better:
        names = ", ".join(c["variant"] for c in better)
        verdict = f"{names} fit better than binary beyond the seed spread"
    elif worse:
        names = ", ".join(c["variant"] for c in worse)
        cause = (
            "the flattened form's cause is measured in Table U3c"
            if users.get("embedding_scale")
            else "for a cause not measured here (optimisation, saturation or init scale)"
        )
        verdict = f"{names} end lower beyond the seed spread; {cause}"
    elif (
        min(
            [
                binary["final_pearson_train_bn"]["n"],
                *(c["final_pearson_train_bn"]["n"] for c in emb),
            ]
        )
        < 2
    ):
        verdict = "one seed per variant, so no seed spread to judge a difference by"
    else:
        verdict = "no variant differs from binary by more than the seed spread"
    out.append(f"{lead}{parts}: {verdict} (Table U3).")
    measured = [guard_embedding_sentence(users), scale_sentence(users)]  # Tables U3b, U3c
    general = [generalisation_sentence(users), query_pair_sentence(users)]  # Tables U6, U7
    return out + [s for s in measured if s] + [s for s in general if s]


def action_sentences(users: dict[str, Any]) -> list[str]:
    """(3) What to do instead, from the same tables."""
    main = users["main"]
    out: list[str] = []
    bn = [c for c in main if c["norm"] == "batch"]  # the rule's effect, without LayerNorm's
    guard = [c for c in bn if c["deletion_rule"] == "torchcell-index-guard" and seed_mean(c)]
    exact = [c for c in bn if c["deletion_rule"] == "exact" and seed_mean(c)]
    if guard and exact:
        g = sum(seed_mean(c) for c in guard) / len(guard)
        e = sum(seed_mean(c) for c in exact) / len(exact)
        if e > g + 0.05:
            out.append(
                "Apply each deletion in every term the gene is annotated to (dcellx's default, "
                f"--deletion-rule exact: mean train-mode r {e:.3f} over its batch-norm cells "
                f"against {g:.3f} with the guard) and, before training, check with "
                "`dcellx diagnose --deletion-rule ...` that the batch's distinct effective inputs "
                "equal its size."
            )
    capped = [
        c
        for c in main
        if c["deletion_rule"] == "exact"
        and c.get("unknown_genes")
        and c.get("ceiling_pearson") is not None
        and c["ceiling_pearson"] < 0.999
    ]
    if capped:
        worst = min(capped, key=lambda c: c["ceiling_pearson"])
        out.append(
            f"Use a GO build that annotates the screened genes: on {worst['go']} "
            f"{worst['unknown_genes']} perturbed genes of the {_batch(worst['batch_seed'])} batch "
            f"have no annotation, so even exact deletions cap that batch at r "
            f"{worst['ceiling_pearson']:.3f} (Table U1, 'invisible genes')."
        )
    return out


def norm_sentences(users: dict[str, Any]) -> list[str]:
    """LayerNorm against BatchNorm in the main grid (the users ran both)."""
    main = users["main"]
    layer = [c for c in main if c["norm"] == "layer"]
    batch = [c for c in main if c["norm"] == "batch"]
    if not layer or not batch:
        return []
    runs = sum(c["seeds"] for c in layer)
    collapsed = sum(c["final_pearson_train_bn"]["undefined"] for c in layer)
    worse = 0
    for c in layer:
        twin = find_cell(
            batch, go=c["go"], deletion_rule=c["deletion_rule"], batch_seed=c["batch_seed"]
        )
        if twin is not None and seed_mean(twin) is not None:
            m = seed_mean(c)
            if m is None or m < seed_mean(twin) - 0.05:
                worse += 1
    if worse or collapsed:
        return [
            f"With --norm layer dcell-new fits worse than with batch norm in {worse} of "
            f"{len(layer)} cells and ends with constant predictions (undefined r) in {collapsed} "
            f"of {runs} runs (Table U1): a second way to miss the fit, observed only (its "
            "mechanism was not measured)."
        ]
    return [f"--norm layer fits as batch norm does in all {len(layer)} cells (Table U1)."]


def answer(users: dict[str, Any], limit: int = 15) -> list[str]:
    """The answer, at most ``limit`` sentences: why, what embeddings add, what to do."""
    out = why_sentences(users) + norm_sentences(users)
    out += embedding_sentences(users) + action_sentences(users)
    return out[:limit]


def _closest(main: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The torchcell-2017 cell nearest the users' 0.4548, among cells whose seeds agree: a cell
    whose seed sd exceeds its mean's size is noise, not a level to quote."""
    old = [c for c in main if c["go"] == "torchcell-2017" and seed_mean(c) is not None]
    old = [c for c in old if (c["final_pearson_train_bn"]["sd"] or 0.0) <= abs(seed_mean(c))]
    return min(old, key=lambda c: abs(seed_mean(c) - 0.4548)) if old else None


def _batch(seed: int | None) -> str:
    return "first-32" if seed is None else "shuffled"


def _c(cell: dict[str, Any]) -> str:
    c = cell.get("ceiling_pearson")
    return "undefined" if c is None else f"{c:.3f}"


def _describe(c: dict[str, Any]) -> str:
    return f"{c['go']}, {c['deletion_rule']}, {c['norm']}, {_batch(c['batch_seed'])}"
