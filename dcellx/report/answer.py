"""The numbered claims of the report's answer: at most ten, each with its figure and table (the
plain-language opening above them is ``dcellx.report.lead``).

Every sentence is generated from the users'-setting cell tables (``dcellx.report.users``); a
claim is only made when its numbers support it, and the opposite claim is made when they point the
other way (tested on constructed tables in ``tests/report/test_answer.py``).
"""

from __future__ import annotations

from typing import Any

from dcellx.report.lead import percent_span

AT_CEILING = 0.02  # a fit within this of its identifiability ceiling is "at the ceiling"
FITS = 0.99  # seed-mean train-mode r counted as fitting the batch


def _m(cell: dict[str, Any], key: str = "final_pearson_train_bn") -> float | None:
    return cell[key]["mean"]


def _rng(cell: dict[str, Any], key: str = "final_pearson_train_bn") -> str:
    s = cell[key]
    if s["mean"] is None:
        return "–"
    if s["sd"] is None:
        return f"{s['mean']:.3f}"
    return f"{s['mean']:.3f} ± {s['sd']:.3f} (seeds {s['min']:.3f}–{s['max']:.3f})"


def _find(cells: list[dict[str, Any]], **key: Any) -> dict[str, Any] | None:
    for c in cells:
        if all(c.get(k) == v for k, v in key.items()):
            return c
    return None


def _at_ceiling(c: dict[str, Any]) -> bool:
    m, ceil = _m(c), c.get("ceiling_pearson")
    return m is not None and ceil is not None and abs(m - ceil) <= AT_CEILING


def _separated(a: dict[str, Any], b: dict[str, Any], key: str = "final_pearson_train_bn") -> bool:
    """Seed ranges of ``key`` (train-mode r) do not overlap, a above b; one seed has no range to
    compare."""
    sa, sb = a[key], b[key]
    if sa["mean"] is None or sb["mean"] is None:
        return False
    if sa["n"] < 2 or sb["n"] < 2:
        return False
    return sa["min"] > sb["max"]


def why_sentences(users: dict[str, Any]) -> list[str]:
    """(1) Why the users' DCell did not overfit the batch, in their setting."""
    main = users["main"]
    out: list[str] = []
    base = dict(norm="batch", batch_seed=None)
    ex_old = _find(main, go="torchcell-2017", deletion_rule="exact", **base)
    ex_new = _find(main, go="torchcell-latest", deletion_rule="exact", **base)
    gd_old = _find(main, go="torchcell-2017", deletion_rule="torchcell-index-guard", **base)
    gd_new = _find(main, go="torchcell-latest", deletion_rule="torchcell-index-guard", **base)
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
                f"{_rng(near)}"
            )
            twin = _find(
                main, go="torchcell-latest", deletion_rule=near["deletion_rule"],
                norm=near["norm"], batch_seed=near["batch_seed"],
            )  # fmt: skip
            if twin is not None:
                tail += f" against {_rng(twin)} on torchcell-latest"
        out.append(
            "No cell of the main grid reproduces the users' 0.45 versus 0.80 (train-mode r in "
            f"0.35–0.55 on torchcell-2017 and at least 0.2 higher on torchcell-latest){tail} "
            "(Table U1)."
        )
    if ex_old and ex_new and gd_old and gd_new:
        exact = f"{_m(ex_old):.3f} / {_m(ex_new):.3f}"
        guard = f"{_m(gd_old):.3f} / {_m(gd_new):.3f}"
        ceil = f"{_c(gd_old)} / {_c(gd_new)}"
        lower = (_m(gd_old) or 0) < (_m(ex_old) or 0) - 0.05 and (_m(gd_new) or 0) < (
            _m(ex_new) or 0
        ) - 0.05
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
        cells = [c for c in cells if _m(c) is not None]
        if not cells:
            continue
        at = [c for c in cells if _at_ceiling(c)]
        if len(at) == len(cells):
            out.append(
                f"With --norm {norm}, all {len(cells)} cells end within {AT_CEILING} of their "
                "batch's identifiability ceiling: what limits the fit there is which genotypes "
                "the model can tell apart, not its capacity or training (Table U1)."
            )
        else:
            worst = min(
                (c for c in cells if c not in at), key=lambda c: (_m(c) or 0) - c["ceiling_pearson"]
            )
            out.append(
                f"With --norm {norm}, {len(at)} of {len(cells)} cells end at their ceiling; the "
                f"others stay below it (largest shortfall: {_describe(worst)}, r {_m(worst):.3f} "
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
            f"(ceiling {one} on torchcell-latest; fits {_m(gd_old):.3f} / {_m(gd_new):.3f}), "
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
    binary = _find(
        users["main"], go="torchcell-latest", deletion_rule="exact", norm="batch", batch_seed=None
    )
    emb = [c for c in users.get("embeddings", []) if _m(c) is not None]
    if binary is None or _m(binary) is None or not emb:
        return out
    better = [c for c in emb if _separated(c, binary) and _m(c) > _m(binary)]
    worse = [c for c in emb if _separated(binary, c) and _m(c) < _m(binary)]
    parts = ", ".join(f"{c['variant']} {_rng(c)}" for c in emb)
    room = ", where binary already fits, so no variant can fit better" if _m(binary) >= FITS else ""
    lead = (
        f"Measured only with exact deletions (dcell-new, torchcell-latest, first 32){room}: "
        f"binary {_rng(binary)}; "
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
    measured = [guard_embedding_sentence(users), scale_sentence(users)]
    return out + [s for s in measured if s] + [s for s in [generalisation_sentence(users)] if s]


def guard_embedding_sentence(users: dict[str, Any]) -> str | None:
    """Table U3b: whether any embedding variant passes its batch's ceiling under the guard."""
    rows = [c for c in users.get("guard_embeddings", []) if _m(c) is not None]
    rows = [c for c in rows if c.get("ceiling_pearson") is not None]
    if not rows:
        return None
    above = [c for c in rows if _m(c) > c["ceiling_pearson"] + AT_CEILING]
    at = [c for c in rows if _at_ceiling(c)]
    gos = sorted({c["go"] for c in rows})
    ceil = " and ".join(
        f"{next(c['ceiling_pearson'] for c in rows if c['go'] == g):.3f} on {g}" for g in gos
    )
    if above:
        names = ", ".join(f"{c['variant']} on {c['go']} ({_m(c):.3f})" for c in above)
        return (
            f"Under the guard, {names} end above the ceiling of their batch ({ceil}), which "
            "contradicts the bound: check the run (Table U3b)."
        )
    return (
        f"Under the guard no embedding variant passes the ceiling of its batch ({ceil}): "
        f"{len(at)} of {len(rows)} variant-build cells end within {AT_CEILING} of it and the "
        "others below it, as binary does (Table U3b)."
    )


def scale_sentence(users: dict[str, Any]) -> str | None:
    """Table U3c: the flattened embedding's plateau against the scale of e_g."""
    measured = [c for c in users.get("embedding_scale", []) if _m(c) is not None]
    same = [c for c in measured if float(c["embedding_init_std"]) == 1.0]
    default = same[0] if same else _find(users.get("embeddings", []), variant="embedding")
    scaled = [c for c in measured if float(c["embedding_init_std"]) != 1.0]
    if default is None or _m(default) is None or not scaled:
        return None
    s = scaled[0]
    std = s.get("embedding_init_std")
    if _m(s) >= FITS and _m(default) < FITS:
        sat = ""
        if default.get("saturation") and s.get("saturation"):
            a, b = default["saturation"]["mean"], s["saturation"]["mean"]
            if a is not None and b is not None:
                sat = f", with {100 * a:.0f} % against {100 * b:.0f} % of tanh units saturated"
        return (
            f"The flattened embedding's plateau (r {_rng(default)}) is an optimisation effect of "
            f"e_g's scale: drawn with standard deviation {std} instead of 1, the same variant "
            f"fits the batch (r {_rng(s)}{sat}; Table U3c)."
        )
    if _m(s) > _m(default) and _separated(s, default):
        return (
            f"Drawing e_g with standard deviation {std} instead of 1 lifts the flattened "
            f"embedding from r {_rng(default)} to {_rng(s)} without reaching binary's fit, so "
            "e_g's scale is part of its plateau but not all of it (Table U3c)."
        )
    return (
        f"Drawing e_g with standard deviation {std} instead of 1 leaves the flattened embedding "
        f"at r {_rng(s)} (default {_rng(default)}), so its plateau is not e_g's scale alone "
        "(Table U3c)."
    )


TEST = "test_pearson"


def generalisation_sentence(users: dict[str, Any]) -> str | None:
    """Table U6: whether an embedding predicts unseen genes or pairs better than binary."""
    gen = [c for c in users.get("generalisation", []) if c[TEST]["mean"] is not None]
    binary = {c["split"]: c for c in gen if c["variant"] == "binary"}
    if not binary:
        return None
    emb = [c for c in gen if c["variant"].startswith("embedding") and c["split"] in binary]
    better = [c for c in emb if _separated(c, binary[c["split"]], TEST)]
    worse = [c for c in emb if _separated(binary[c["split"]], c, TEST)]
    held = [s for s in ("genes", "pairs") if s in binary] or sorted(binary)
    figures = "; ".join(
        f"held-out {s}: binary {binary[s][TEST]['mean']:.3f}, "
        + ", ".join(f"{c['variant']} {c[TEST]['mean']:.3f}" for c in emb if c["split"] == s)
        for s in held
    )
    if better:
        names = ", ".join(f"{c['variant']} ({c['split']})" for c in better)
        verdict = f"{names} predict better than binary beyond the seed spread"
    elif worse and len(worse) == len(emb):
        verdict = "every embedding predicts worse than binary beyond the seed spread"
    else:
        verdict = "no embedding predicts better than binary beyond the seed spread"
    return f"On real data, the DNA-repair pairs, {verdict} (test Pearson, {figures}; Table U6)."


def action_sentences(users: dict[str, Any]) -> list[str]:
    """(3) What to do instead, from the same tables."""
    main = users["main"]
    out: list[str] = []
    bn = [c for c in main if c["norm"] == "batch"]  # the rule's effect, without LayerNorm's
    guard = [c for c in bn if c["deletion_rule"] == "torchcell-index-guard" and _m(c)]
    exact = [c for c in bn if c["deletion_rule"] == "exact" and _m(c)]
    if guard and exact:
        g = sum(_m(c) for c in guard) / len(guard)
        e = sum(_m(c) for c in exact) / len(exact)
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
        twin = _find(
            batch, go=c["go"], deletion_rule=c["deletion_rule"], batch_seed=c["batch_seed"]
        )
        if twin is not None and _m(twin) is not None:
            m = _m(c)
            if m is None or m < _m(twin) - 0.05:
                worse += 1
    if worse or collapsed:
        return [
            f"With --norm layer dcell-new fits worse than with batch norm in {worse} of "
            f"{len(layer)} cells and ends with constant predictions (undefined r) in {collapsed} "
            f"of {runs} runs (Table U1): a second way to miss the fit, observed only (its "
            "mechanism was not measured)."
        ]
    return [f"--norm layer fits as batch norm does in all {len(layer)} cells (Table U1)."]


def answer(users: dict[str, Any], limit: int = 14) -> list[str]:
    """The answer, at most ``limit`` sentences: why, what embeddings add, what to do."""
    out = why_sentences(users) + norm_sentences(users)
    out += embedding_sentences(users) + action_sentences(users)
    return out[:limit]


def _closest(main: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The torchcell-2017 cell nearest the users' 0.4548, among cells whose seeds agree: a cell
    whose seed sd exceeds its mean's size is noise, not a level to quote."""
    old = [c for c in main if c["go"] == "torchcell-2017" and _m(c) is not None]
    old = [c for c in old if (c["final_pearson_train_bn"]["sd"] or 0.0) <= abs(_m(c))]
    return min(old, key=lambda c: abs(_m(c) - 0.4548)) if old else None


def _batch(seed: int | None) -> str:
    return "first-32" if seed is None else "shuffled"


def _c(cell: dict[str, Any]) -> str:
    c = cell.get("ceiling_pearson")
    return "undefined" if c is None else f"{c:.3f}"


def _describe(c: dict[str, Any]) -> str:
    return f"{c['go']}, {c['deletion_rule']}, {c['norm']}, {_batch(c['batch_seed'])}"
