"""The opening of the report's answer: at most five plain sentences a biologist can act on.

The bug (torchcell's guard line, quoted, and what it does to the first batch), the evidence
(ceilings over many batches, fits at the ceiling), the fix, what a gene embedding can and cannot
add, and the limit of the evidence. Each sentence is generated from the users'-setting tables
(``dcellx.report.users``, ``dcellx.report.ceilings``); where the numbers point the other way the
sentence says so instead (tested on constructed tables in ``tests/report/test_lead.py``).
"""

from __future__ import annotations

from typing import Any

GUARD = "torchcell-index-guard"
SORTED = "recipe (sorted)"  # dcellx.report.ceilings.SORTED
OLD, NEW = "torchcell-2017", "torchcell-latest"
GUARD_LINE = "`if gene_idx < len(genes):`"
LOWER = 0.05  # a ceiling or fit counted as lowered by the guard: at least this much below exact
AT_CEILING = 0.02  # as dcellx.report.answer: a fit within this of its ceiling is at the ceiling


def _first_bn(main: list[dict[str, Any]], go: str, rule: str) -> dict[str, Any] | None:
    for c in main:
        if (c["go"], c["deletion_rule"], c["norm"], c["batch_seed"]) == (go, rule, "batch", None):
            return c
    return None


def _fit(c: dict[str, Any] | None) -> float | None:
    return None if c is None else c["final_pearson_train_bn"]["mean"]


def bug_sentence(users: dict[str, Any]) -> str | None:
    """What the guard line does, with the first batch's own counts on the date-filtered build."""
    guard, exact = _first_bn(users["main"], OLD, GUARD), _first_bn(users["main"], OLD, "exact")
    if guard is None or exact is None or "wildtype_inputs" not in guard:
        return None
    n = users["plan"].batch_size if "plan" in users else 32
    wild, distinct = guard["wildtype_inputs"], guard["distinct_inputs"]
    if wild == 0 and distinct >= exact["distinct_inputs"]:
        return (
            f"torchcell's `dcell_new.py` applies a gene's deletion in a GO term only after the "
            f"check {GUARD_LINE}, but on {OLD} that check hides no deletion of the first batch "
            f"that matters: its {n} mutants keep {distinct} distinct inputs, as with every "
            "deletion applied (Table U1)."
        )
    return (
        f"torchcell's `dcell_new.py` applies a gene's deletion in a GO term only after the check "
        f"{GUARD_LINE}, which compares the gene's place in the genome-wide gene list with the "
        "number of genes annotated directly to the term, two unrelated numbers, so most "
        "deletions never reach the model: "
        f"on {OLD}, {wild} of the {n} triple mutants of the first batch reach it as wild type "
        f"and only {distinct} distinct inputs remain for {n} different tau values (Table U1)."
    )


def _medians(study: dict[str, Any], go: str, rule: str) -> list[float]:
    """The ceiling's median per batch design, in the build's own vocabulary order (Table U1's)."""
    return [
        r["ceiling"]["median"]
        for r in study["rows"]
        if r["go"] == go and r["rule"] == rule and r["order"] in (SORTED, "any")
        and r["ceiling"]["median"] is not None
    ]  # fmt: skip


def percent_span(shares: list[float]) -> str:
    """``97–100 %`` (or ``99 %``) of a list of shares in [0, 1]."""
    lo, hi = f"{100 * min(shares):.0f}", f"{100 * max(shares):.0f}"
    return f"{lo} %" if lo == hi else f"{lo}–{hi} %"


def _span(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.3f}" if f"{lo:.3f}" == f"{hi:.3f}" else f"{lo:.3f}–{hi:.3f}"


def evidence_sentence(users: dict[str, Any]) -> str | None:
    """Ceilings over many batches (Tables U0, U0b) and whether the fits stop at them (U1)."""
    study = users.get("many_batches")
    if not study:
        return None
    guard = {go: _medians(study, go, GUARD) for go in study["gos"]}
    exact = {go: _medians(study, go, "exact") for go in study["gos"]}
    if not all(guard.values()) or not all(exact.values()):
        return None
    n = f"{study['batches']:,} simulated batches of {study['batch_size']} per batch design"
    bn = [c for c in users["main"] if c["norm"] == "batch" and c.get("ceiling_pearson")]
    bn = [c for c in bn if _fit(c) is not None]
    at = [c for c in bn if abs(_fit(c) - c["ceiling_pearson"]) <= AT_CEILING]
    fits = (
        "every batch-norm fit in Table U1 stops at its batch's ceiling"
        if bn and len(at) == len(bn)
        else f"{len(at)} of {len(bn)} batch-norm fits in Table U1 stop at their batch's ceiling"
    )
    lowered = all(max(guard[g]) < min(exact[g]) - LOWER for g in study["gos"])
    per_build = " and ".join(f"{_span(guard[g])} on {g}" for g in study["gos"])
    if not lowered:
        return (
            f"Over {n}, the guard does not lower the ceiling, the best Pearson any model can "
            f"reach, below what every deletion applied gives (medians {per_build} with the guard "
            f"against {_span([v for g in study['gos'] for v in exact[g]])} without), so it does "
            f"not explain a plateau in these records; {fits} (Tables U0, U1)."
        )
    order = ""
    shares = [p["lower_share"] for p in study.get("paired", []) if p["lower_share"] is not None]
    if len(study["gos"]) == 2 and shares:
        old, new = study["gos"]
        order = f", lower on {old} than on {new} in {percent_span(shares)} of the same batches"
    return (
        f"Over {n}, the guard holds the ceiling, the best Pearson any model can reach, to a "
        f"median of {per_build} (the range over designs){order}, against "
        f"{_span([v for g in study['gos'] for v in exact[g]])} with every deletion applied, "
        f"and {fits} (Tables U0, U0b, U1)."
    )


def fix_sentence(users: dict[str, Any]) -> str | None:
    """Deleting the guard line, with what the same first batches reach without it."""
    main = users["main"]
    ex = [_fit(_first_bn(main, g, "exact")) for g in (OLD, NEW)]
    gd = [_fit(_first_bn(main, g, GUARD)) for g in (OLD, NEW)]
    if None in ex or None in gd:
        return None
    pair = f"{ex[0]:.3f} / {ex[1]:.3f} ({OLD} / {NEW}"
    if all(e > g + LOWER for e, g in zip(ex, gd, strict=True)):
        return (
            f"The fix is one line: delete {GUARD_LINE} (the `gene_idx in genes` test beneath it "
            "already finds the gene's place in the term), which is dcellx's default "
            f"`--deletion-rule exact`; the same first batches then fit to r {pair}; Table U1)."
        )
    return (
        f"Deleting {GUARD_LINE} does not raise the fit of the first batches here (r {pair}) "
        f"without it, {gd[0]:.3f} / {gd[1]:.3f} with it; Table U1), so it is not the fix for "
        "these records."
    )


def embedding_sentence(users: dict[str, Any]) -> str:
    """What a learnable gene embedding adds: the algebra, then Tables U3b and U6 where measured."""
    guard = [c for c in users.get("guard_embeddings", []) if c.get("ceiling_pearson") is not None]
    guard = [c for c in guard if c["final_pearson_train_bn"]["mean"] is not None]
    capped = bool(guard) and all(
        c["final_pearson_train_bn"]["mean"] <= c["ceiling_pearson"] + AT_CEILING for c in guard
    )
    undo = (
        "A learnable gene embedding cannot undo the guard, because a hidden deletion still leaves "
        "s_g = 1 multiplying e_g"
        + (
            " (every embedding variant stops at or below the same ceiling, Table U3b)"
            if capped
            else ""
        )  # fmt: skip
    )
    gen = _generalisation(users)
    if gen is None:
        return (
            f"{undo}, and it adds information only when its vectors come from outside the screen "
            "(a randomly initialised `nn.Embedding` adds none); its one possible gain, "
            "generalisation to unseen genes or genotypes, was not measured here."
        )
    return (
        f"{undo}; it adds information only when its vectors come from outside the screen, and "
        f"its one possible gain, predicting unseen genes or gene pairs, {gen}; Table U6)."
    )


def _generalisation(users: dict[str, Any]) -> str | None:
    """Whether any embedding beats binary on held-out genes or pairs, in words."""
    gen = [c for c in users.get("generalisation", []) if c["test_pearson"]["mean"] is not None]
    binary = {c["split"]: c["test_pearson"] for c in gen if c["variant"] == "binary"}
    held = [s for s in ("genes", "pairs") if s in binary]
    if not held:
        return None
    emb = [c for c in gen if c["variant"].startswith("embedding") and c["split"] in held]
    if not emb:
        return None
    better = [
        c for c in emb
        if c["test_pearson"]["n"] > 1 and binary[c["split"]]["n"] > 1
        and c["test_pearson"]["min"] > binary[c["split"]]["max"]
    ]  # fmt: skip
    if better:
        names = ", ".join(f"{c['variant']} on held-out {c['split']}" for c in better)
        return f"is seen on the real DNA-repair pairs for {names} (beyond the seed spread"
    figures = "; ".join(
        f"held-out {s}: binary {binary[s]['mean']:.3f}, best embedding, learned or fixed, "
        f"{max(c['test_pearson']['mean'] for c in emb if c['split'] == s):.3f}"
        for s in held
    )
    return f"is not seen on the real DNA-repair pairs (test Pearson, {figures}"


def limit_sentence(users: dict[str, Any]) -> str:
    """The evidence is simulated: how users check their own records."""
    return (
        "All of this is measured on simulated records with the users' screen design and tau "
        "scale, not on their Kuzmin 2018 data: `dcellx diagnose --go torchcell-2017 --data "
        "THEIR_FILE --vocabulary THEIR_GENE_LIST` prints the same counts, the hidden genes term "
        "by term and the ceiling for their own batch, without training."
    )


def lead(users: dict[str, Any]) -> list[str]:
    """At most five sentences: bug, evidence, fix, embedding, limit (those the tables allow)."""
    parts = [bug_sentence(users), evidence_sentence(users), fix_sentence(users)]
    return [s for s in parts if s] + [embedding_sentence(users), limit_sentence(users)]
