"""The verdict ``dcellx overfit`` prints: what happened to the batch, from the run's own numbers.

``overfit_facts`` measures (summary, identifiability ceiling of the batch under the run's deletion
rule, share of terms no genotype of the batch reaches, tanh saturation when weights were kept);
``verdict_text`` turns those facts into one paragraph. The text is a pure function of the facts, so
each branch is tested on constructed facts (``tests/diagnose/test_verdict.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dcellx.diagnose.ceiling import identifiability_ceiling
from dcellx.ontology.reach import term_gene_reach
from dcellx.train.config import load_run_config
from dcellx.train.data import base_ontology, overfit_rows, run_datasets
from dcellx.train.rundir import read_json

FIT = 0.99  # train-mode r at which the batch counts as fit
NEAR = 0.9
GAP = 0.1  # eval-mode r this far below train-mode r is a gap worth explaining
SATURATED = 0.5  # share of tanh units with |tanh| > 0.99 that counts as saturation


def overfit_facts(run_dir: str | Path) -> dict[str, Any]:
    """Everything ``verdict_text`` needs, measured on a finished overfit run directory."""
    run_dir = Path(run_dir)
    summary = read_json(run_dir / "summary.json")
    cfg = load_run_config(read_json(run_dir / "config.json")["run"])
    onto = base_ontology(cfg)
    ds = run_datasets(cfg.data, cfg)["train"]  # as the run read it (and once)
    batch = ds.subset(overfit_rows(len(ds), cfg.batch_size, cfg.batch_seed))
    ceiling = identifiability_ceiling(batch, onto, cfg.phenotype, cfg.model.deletion_rule)
    genes = sorted({onto.gene_index[g] for gs in batch.genes for g in gs if g in onto.gene_index})
    reached = term_gene_reach(onto, np.array(genes, dtype=np.int64)).any(axis=1)
    facts: dict[str, Any] = {
        "best_train": summary.get("best_pearson_train_bn"),
        "final_train": summary.get("final_pearson_train_bn"),
        "best_eval": summary.get("best_pearson_eval_bn"),
        "final_eval": summary.get("final_pearson_eval_bn"),
        "epochs": summary.get("epochs"),
        "norm": cfg.model.norm,
        "deletion_rule": cfg.model.deletion_rule,
        "samples": ceiling["samples"],
        "ceiling": ceiling["ceiling_pearson"],
        "colliding": ceiling["shared_input_samples"],
        "distinct_inputs": ceiling["distinct_inputs"],
        "unknown_genes": ceiling["unknown_genes"],
        "hidden_genes": ceiling["hidden_genes"],
        "unreached_share": float(1.0 - reached.mean()) if len(reached) else 0.0,
        "saturated_share": None,
    }
    if (run_dir / "weights-best.pt").exists() or (run_dir / "checkpoint-last.pt").exists():
        from dcellx.diagnose.run_stats import run_diagnostics

        which = "best" if (run_dir / "weights-best.pt").exists() else "last"
        strata = run_diagnostics(run_dir, which, max_samples=cfg.batch_size)["strata"]
        n = sum(s["neurons"] for s in strata)
        if n:
            sat = sum(s["saturated_fraction"] * s["neurons"] for s in strata) / n
            facts["saturated_share"] = float(sat)
    return facts


def _r(x: float | None) -> str:
    return "undefined" if x is None else f"{x:.3f}"


def verdict_text(f: dict[str, Any]) -> str:
    """One paragraph: fit or not, the ceiling, the eval-mode gap and its likely cause, the flag."""
    out: list[str] = []
    best, ceiling = f.get("best_train"), f.get("ceiling")
    limited = ceiling is not None and ceiling < 0.999
    if best is None:
        out.append("Train-mode Pearson was undefined on every epoch (constant predictions).")
    elif best >= FIT:
        out.append(f"The batch was fit in train mode (best r {best:.3f}).")
    elif best >= NEAR:
        out.append(f"The batch was nearly fit in train mode (best r {best:.3f}).")
    else:
        out.append(f"The batch was not fit: best train-mode r {best:.3f}.")
    if limited or ceiling is None:
        why = []
        if f.get("unknown_genes"):
            why.append(f"{f['unknown_genes']} perturbed genes are not inputs of the ontology")
        if f.get("hidden_genes"):
            why.append(
                f"{f['hidden_genes']} genes have every deletion hidden by "
                f"--deletion-rule {f['deletion_rule']}"
            )
        cause = f" ({'; '.join(why)})" if why else ""
        fix = (
            " --deletion-rule exact applies every deletion."
            if f.get("hidden_genes")
            else " Map gene names (docs/data.md: Your own screens) or use a build that annotates"
            " them."
        )
        out.append(
            f"No model can exceed r {_r(ceiling)} on this batch: {f['colliding']} of "
            f"{f['samples']} genotypes share their effective input with another "
            f"({f['distinct_inputs']} distinct inputs){cause}.{fix}"
        )
        if best is not None and ceiling is not None and best >= ceiling - 0.02:
            out.append("The fit is at that ceiling: the inputs, not the model, limit it.")
    elif best is not None and best < NEAR:
        out.append(
            "The ceiling is 1.0, so the model limits the fit: try more --epochs, --norm none, "
            "or --alpha 0 (auxiliary losses compete with the root)."
        )
    ev = f.get("best_eval")
    if best is not None and ev is not None and best - ev >= GAP:
        share = f.get("unreached_share") or 0.0
        if f.get("norm") in ("batch", "batch-frozen"):
            cause = (
                f"{share:.0%} of terms are reached by no genotype of the batch, so their batch "
                "variance is 0 and running statistics normalise them differently"
                if share >= 0.2
                else "running BatchNorm statistics differ from the batch's own"
            )
            flag = "--norm batch-frozen (statistics frozen after --bn-freeze-after steps)"
        else:
            cause, flag = "eval mode computes another function than training", "--norm none"
        out.append(
            f"Eval-mode r is {best - ev:.3f} lower (best {ev:.3f}): {cause}; {flag} makes "
            "train and eval agree."
        )
    sat = f.get("saturated_share")
    if sat is not None and sat >= SATURATED:
        out.append(
            f"{sat:.0%} of tanh units are saturated (|tanh| > 0.99), so their gradients vanish: "
            "a lower --lr helps."
        )
    return " ".join(out)
