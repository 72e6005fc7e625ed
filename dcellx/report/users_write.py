"""The report's section "The users' setting": tables U1–U5 and figure U1, from measured cells."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from dcellx.report import ceilings  # noqa: E402
from dcellx.report.cells import fmt  # noqa: E402
from dcellx.report.users import UsersPlan, batch_label  # noqa: E402
from dcellx.train.plots import save_png  # noqa: E402


def _ceil(c: dict[str, Any]) -> str:
    v = c.get("ceiling_pearson")
    return "undefined" if v is None else f"{v:.3f}"


def figure(out: Path, main: list[dict[str, Any]]) -> str:
    """Final train-mode r (mean, seed range) beside each cell's ceiling."""
    cells = sorted(
        main, key=lambda c: (c["go"], c["deletion_rule"], c["norm"], str(c["batch_seed"]))
    )
    labels = [
        "\n".join(
            [
                c["go"].replace("torchcell-", ""),
                "guard" if "guard" in c["deletion_rule"] else "exact",
                c["norm"],
                "first" if c["batch_seed"] is None else "shuf",
            ]
        )
        for c in cells
    ]
    fig, ax = plt.subplots(figsize=(max(8, 0.7 * len(cells)), 4.5))
    x = range(len(cells))
    mean = [c["final_pearson_train_bn"]["mean"] or 0 for c in cells]
    lo = [m - (c["final_pearson_train_bn"]["min"] or m) for m, c in zip(mean, cells, strict=True)]
    hi = [(c["final_pearson_train_bn"]["max"] or m) - m for m, c in zip(mean, cells, strict=True)]
    ev = [c["final_pearson_eval_bn"]["mean"] or 0 for c in cells]
    ax.bar([i - 0.2 for i in x], mean, 0.4, yerr=[lo, hi], label="final r, train mode (seed range)")
    ax.bar([i + 0.2 for i in x], ev, 0.4, label="final r, eval mode", alpha=0.6)
    ceil = [c.get("ceiling_pearson") for c in cells]
    ax.scatter(list(x), [v if v is not None else 0 for v in ceil], marker="_", s=400, c="k",
               label="identifiability ceiling", zorder=3)  # fmt: skip
    ax.axhspan(0.35, 0.55, color="red", alpha=0.08, label="users' 2017 plateau band")
    ax.set_xticks(list(x), labels, fontsize=7)
    ax.set_ylim(-0.3, 1.05)
    ax.set_ylabel("Pearson r")
    ax.set_title("dcell-new overfitting 32 simulated trigenic records")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    save_png(fig, out / "users-setting.png")
    return "users-setting.png"


def _rows(cells: list[dict[str, Any]], keys: list[str]) -> list[str]:
    out = []
    for c in cells:
        cols = [str(c.get(k)) if k != "batch_seed" else batch_label(c[k]) for k in keys]
        cols += [
            fmt(c["final_pearson_train_bn"]),
            fmt(c["best_pearson_train_bn"]),
            fmt(c["final_pearson_eval_bn"]),
            f"{c['stopped_early']}/{c['seeds']}",
            fmt(c["epochs"], 0),
        ]
        out.append("| " + " | ".join(cols) + " |")
    return out


HEAD = "final r train | best r train | final r eval | stopped early | epochs |"


def section(out: Path, users: dict[str, Any], command: str, seconds: float | None) -> list[str]:
    """Markdown lines of the section (Table U1 main grid, U2 around it, U3 embeddings, U4 walk,
    U5 raw labels, Figure U1)."""
    plan: UsersPlan = users["plan"]
    L = ["## The users' setting\n"]
    L.append(
        f"One fixed batch of {plan.batch_size} records of a simulated trigenic-SGA screen "
        f"(`{plan.data.name}`: query pairs x array genes as in Kuzmin 2018, labels rescaled to "
        "the users' tau statistics, marked synthetic; first 32 = one query pair, the shuffled "
        "draw spans many), Adam lr 1e-3, up to "
        f"{plan.epochs} epochs, a run stops once train-mode r >= {plan.fit_stop_pearson} for "
        f"{plan.fit_stop_epochs} epochs; seeds {plan.seeds}, {plan.threads} torch thread(s); "
        "labels z-scored unless stated. r is the Pearson of the root prediction with tau: "
        "*train* from the training forward pass (batch statistics, what the users printed), "
        "*eval* from a separate eval-mode forward. Cells: mean ± sd [seed min, max].\n"
    )
    if seconds is not None:
        cost = ""
        if users.get("runs"):
            cost = (
                f" The sweeps hold {users['runs']} runs, {users['run_seconds'] / 3600:.1f} h of "
                f"training in all (each run's own time on {plan.threads} thread(s), summed; two "
                "workers side by side halve the wall time)."
            )
        L.append(
            f"Command: `{command}`; this invocation took {seconds / 60:.1f} min "
            f"(finished runs are reused, not rerun).{cost}\n"
        )
    missing = {k: v for k, v in users.get("missing", {}).items() if v}
    if missing:
        L.append(
            "**Incomplete:** runs not finished when this report was written (rerun the same "
            "command to continue): "
            + ", ".join(f"{k} {v}" for k, v in missing.items())
            + ". Cells below hold the seeds that finished.\n"
        )
    if users.get("many_batches"):
        L.extend(ceilings.table_lines(users["many_batches"], plan.data.name, command))
        ceilings.figure(out, users["many_batches"])
    L.append("### Table U1: main grid (dcell-new)\n")
    L.append(
        "| --go | deletion rule | norm | batch | ceiling | distinct inputs of 32 | invisible "
        "genes (not in build + hidden by rule) | " + HEAD
    )
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for c in users["main"]:
        facts = [
            c["go"], c["deletion_rule"], c["norm"], batch_label(c["batch_seed"]), _ceil(c),
            str(c["distinct_inputs"]),
            f"{c['invisible_genes']} ({c['unknown_genes']} + {c['hidden_genes']})",
        ]  # fmt: skip
        L.append("| " + " | ".join(facts) + " | " + _rows([c], [])[0][2:])
    L.append("")
    L.append(f"![users' setting]({figure(out, users['main'])})\n")
    L.append("### Table U2: around the grid (first-32 batch, batch norm, exact deletions)\n")
    L.append("| preset | --go | " + HEAD)
    L.append("|---|---|---|---|---|---|---|")
    L.extend(_rows(users["presets"], ["preset", "go"]))
    for c in users["dna"]:
        L.extend(_rows([{**c, "preset": "dcell-new", "go": "dna-repair (real pairs)"}],
                       ["preset", "go"]))  # fmt: skip
    L.append("")
    L.append("### Table U3: embedding variants (dcell-new, torchcell-latest, first-32, exact)\n")
    L.append("| variant | " + HEAD)
    L.append("|---|---|---|---|---|---|")
    binary = [
        c
        for c in users["main"]
        if (c["go"], c["deletion_rule"], c["norm"], c["batch_seed"])
        == ("torchcell-latest", "exact", "batch", None)
    ]
    L.extend(_rows(binary + users["embeddings"], ["variant"]))
    L.append("")
    L.extend(scale_lines(users, binary))
    L.extend(guard_lines(users))
    if users["walk"]:
        L.append("### Table U4: from the reproducing cell towards `paper`, one change at a time\n")
        L.append("| change | --go | " + HEAD)
        L.append("|---|---|---|---|---|---|---|")
        for w in users["walk"]:
            L.extend(_rows([{**c, "change": w["change"]} for c in w["cells"]], ["change", "go"]))
        L.append("")
    else:
        L.append("No main cell reproduces the users' gap, so no walk towards `paper` was run.\n")
        L.extend(unexplained(users))
    L.extend(generalisation_lines(users))
    L.extend(query_pair_lines(users))
    if users["rawlabels"]:
        L.append("### Table U5: the cells closest to the plateau, labels not z-scored\n")
        L.append("| cell | --go | " + HEAD)
        L.append("|---|---|---|---|---|---|---|")
        for r in users["rawlabels"]:
            c0 = r["cell"]
            name = f"{c0['deletion_rule']}, {c0['norm']}, {batch_label(c0['batch_seed'])}"
            L.extend(_rows([{**c, "cell": name} for c in r["cells"]], ["cell", "go"]))
        L.append("")
    return L


def unexplained(users: dict[str, Any]) -> list[str]:
    """When nothing reproduces: what dcellx rules out for itself, and what it cannot test."""
    exact = [c for c in users["main"] if c["deletion_rule"] == "exact" and c["norm"] == "batch"]
    fits = [c["final_pearson_train_bn"]["mean"] for c in exact]
    fits = [f for f in fits if f is not None]
    lo = f"{min(fits):.3f}" if fits else "–"
    return [
        "What dcellx rules out for itself, from the tables above:",
        "- eval-mode BatchNorm: every r quoted as the users' is the train-mode column;",
        f"- capacity and optimisation of dcell-new with exact deletions and batch norm: its "
        f"cells end at r >= {lo} or at their ceiling (Table U1), with the auxiliary losses "
        "averaged as torchcell did and PyTorch's default init;",
        "- the state encoding, the root's extra input and direct-gene widths: all are in "
        "dcell-new and the paper preset fits alike (Table U2).",
        "",
        "What in the users' pipeline dcellx cannot reproduce here and could still explain it:",
        "- their real Kuzmin 2018 records (ours are simulated with the same design and tau "
        "scale): whether their own 32 records sit at the same ceiling is not measured here "
        "(`dcellx diagnose --data THEIR_FILE --vocabulary THEIR_GENE_LIST` measures it);",
        "- their GO release (2025-03-16) and SGD `date_created` dates: which annotations each term "
        "keeps decides which deletions the index guard lets through;",
        "- their 6,607-gene vocabulary order (the guard compares positions in it);",
        "- the zero-padding / truncation of a term's input at torchcell commit 0c9b6e16 (a term "
        "with children and no direct gene loses its last child's last neuron; documented in "
        "docs/presets.md, not emulated);",
        "- their label normalisation (Table U5 reruns the closest cells with raw labels).",
        "",
    ]


def scale_lines(users: dict[str, Any], binary: list[dict[str, Any]]) -> list[str]:
    """Table U3c: the flattened embedding at e_g's default scale and at 1/sqrt(d)."""
    plan: UsersPlan = users["plan"]
    rows = [{**c, "e_g std": f"1, {plan.epochs} epochs (Table U3)"}
            for c in users.get("embeddings", []) if c["variant"] == "embedding"]  # fmt: skip
    rows += [{**c, "e_g std": f"{c['embedding_init_std']}, {plan.scale_epochs} epochs"}
             for c in users.get("embedding_scale", [])]  # fmt: skip
    if len(rows) < 2:
        return []
    L = ["### Table U3c: the flattened embedding's plateau against the scale of e_g\n"]
    L.append(
        "dcell-new, torchcell-latest, first-32, exact deletions. The flattened embedding computes "
        "binary's function class (C_e = A_e . e_g is one free number per term-gene-neuron "
        "element), so a plateau below binary's fit is an optimisation effect: with e_g ~ N(0, 1) "
        "an Adam step moves C_e by about lr * sum_k |e_gk| (~6.4 lr at d = 8) where binary's "
        "weight moves by lr. Drawing e_g at 1/sqrt(d) is the change measured here. *Saturated*: "
        "the share of tanh units with |tanh| > 0.99 over all strata on the run's best weights and "
        "its batch (`dcellx diagnose --run`).\n"
    )
    L.append("| variant | e_g std | " + HEAD + " saturated |")
    L.append("|---|---|---|---|---|---|---|---|")
    for c in [{**c, "e_g std": "–"} for c in binary] + rows:
        sat = fmt(c["saturation"]) if c.get("saturation") else "–"
        L.append(_rows([c], ["variant", "e_g std"])[0] + f" {sat} |")
    L.append("")
    return L


def guard_lines(users: dict[str, Any]) -> list[str]:
    """Table U3b: every embedding variant under the index guard, beside binary and the ceiling."""
    guard = users.get("guard_embeddings") or []
    if not guard:
        return []
    plan: UsersPlan = users["plan"]
    binary = [
        {**c, "variant": "binary"}
        for c in users["main"]
        if c["deletion_rule"] == "torchcell-index-guard"
        and c["norm"] == "batch"
        and c["batch_seed"] is None
    ]
    L = ["### Table U3b: embedding variants under the index guard (first-32, batch norm)\n"]
    L.append(
        f"dcell-new with torchcell's deletion rule, {plan.guard_epochs} epochs (binary: Table U1, "
        f"{plan.epochs}). s_g multiplies e_g, so a deletion the guard hides is as invisible to an "
        "embedding as to a bit: no variant can pass the ceiling of its batch.\n"
    )
    L.append("| --go | variant | ceiling | " + HEAD)
    L.append("|---|---|---|---|---|---|---|---|")
    for c in sorted(binary + guard, key=lambda c: (c["go"], c["variant"] != "binary")):
        head = f"| {c['go']} | {c['variant']} | {_ceil(c)} |"
        L.append(head + _rows([c], [])[0][1:])
    L.append("")
    return L


def generalisation_lines(users: dict[str, Any]) -> list[str]:
    """Table U6: test scores on the real DNA-repair pairs under three splits."""
    gen = users.get("generalisation") or []
    if not gen:
        return []
    L = ["### Table U6: generalisation on real data (DNA-repair pairs, train mode)\n"]
    L.append(
        "The paper's model and training (`--mode train`, Adam lr 1e-3, batch 32, early stopping "
        "on the validation split), test Pearson and Spearman of the root prediction. *random*: "
        "the dataset's own test file (most test genes also occur in training); *genes*: test "
        "genotypes hold a gene no training genotype holds; *pairs*: test genotypes hold a gene "
        "pair never seen together in training (`dcellx.train.splits`). *fixed e_g*: the same "
        "embedding with e_g kept at its random draw (`embedding_learned=false`), the control "
        "for what learning e_g adds. Cells: mean ± sd [seed min, max].\n"
    )
    L.append("| split | variant | test r | test Spearman | best validation r | epochs |")
    L.append("|---|---|---|---|---|---|")
    order = {s: i for i, s in enumerate(users["plan"].splits)}
    for c in sorted(gen, key=lambda c: (order.get(c["split"], 99), c["variant"])):
        cols = [c["split"], c["variant"], fmt(c["test_pearson"]), fmt(c["test_spearman"]),
                fmt(c["best_pearson_eval_bn"]), fmt(c["epochs"], 0)]  # fmt: skip
        L.append("| " + " | ".join(cols) + " |")
    L.append("")
    return L


def query_pair_lines(users: dict[str, Any]) -> list[str]:
    """Table U7: the simulated trigenic design, whole query pairs held out (when it was run)."""
    rows = users.get("query_pairs") or []
    if not rows:
        return []
    L = ["### Table U7: the simulated trigenic design, query pairs held out (train mode)\n"]
    L.append(
        "Records of some query pairs of the simulated screen train (validation: a random part "
        "of them); other query pairs are the test file, so the test's query genes are never seen "
        "in training and its array genes are (`scripts/query_pair_holdout.py`; the sizes and "
        "the command are in `sweeps/users-query-pairs/README.md`). Simulated records, not "
        "measured. Cells: mean ± sd [seed min, max].\n"
    )
    keys = [k for k in rows[0] if k not in ("variant", "seeds", "stopped_early")]
    keys = [k for k in keys if not isinstance(rows[0][k], dict)]
    L.append("| variant | " + "".join(f"{k} | " for k in keys) + "test r | test Spearman | "
             "best validation r | epochs |")  # fmt: skip
    L.append("|---|" + "---|" * (len(keys) + 4))
    for c in sorted(rows, key=lambda c: [str(c.get(k)) for k in ("variant", *keys)]):
        scores = [fmt(c[m]) for m in ("test_pearson", "test_spearman", "best_pearson_eval_bn")]
        cols = [c["variant"], *(str(c.get(k)) for k in keys), *scores, fmt(c["epochs"], 0)]
        L.append("| " + " | ".join(cols) + " |")
    L.append("")
    return L
