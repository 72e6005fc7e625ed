"""The overfit verdict: each branch on constructed facts, and once on a real run directory."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from dcellx.diagnose.verdict import verdict_text
from dcellx_cli.main import app

BASE = {
    "best_train": 1.0,
    "final_train": 1.0,
    "best_eval": 0.98,
    "final_eval": 0.97,
    "epochs": 100,
    "norm": "batch",
    "deletion_rule": "exact",
    "samples": 32,
    "ceiling": 1.0,
    "colliding": 0,
    "distinct_inputs": 32,
    "unknown_genes": 0,
    "hidden_genes": 0,
    "unreached_share": 0.7,
    "saturated_share": 0.1,
}


def test_fit_without_gap_says_only_that() -> None:
    text = verdict_text(BASE)
    assert text == "The batch was fit in train mode (best r 1.000)."


def test_eval_gap_names_unreached_terms_and_the_flag() -> None:
    text = verdict_text({**BASE, "best_eval": 0.55})
    assert "Eval-mode r is 0.450 lower" in text
    assert "70% of terms are reached by no genotype" in text
    assert "--norm batch-frozen" in text


def test_gap_without_unreached_terms_blames_running_statistics_only() -> None:
    text = verdict_text({**BASE, "best_eval": 0.55, "unreached_share": 0.05})
    assert "running BatchNorm statistics" in text and "reached by no genotype" not in text


def test_layer_norm_gap_points_elsewhere() -> None:
    text = verdict_text({**BASE, "best_eval": 0.55, "norm": "layer"})
    assert "--norm none" in text and "batch-frozen" not in text


def test_ceiling_below_one_with_hidden_deletions() -> None:
    facts = {**BASE, "best_train": 0.23, "best_eval": 0.2, "ceiling": 0.22, "colliding": 27}
    facts.update(distinct_inputs=6, hidden_genes=27, deletion_rule="torchcell-index-guard")
    text = verdict_text(facts)
    assert text.startswith("The batch was not fit: best train-mode r 0.230.")
    assert "No model can exceed r 0.220" in text and "27 of 32 genotypes" in text
    assert "--deletion-rule exact" in text
    assert "The fit is at that ceiling" in text


def test_ceiling_from_unknown_genes_suggests_mapping() -> None:
    facts = {**BASE, "best_train": 0.5, "ceiling": 0.9, "colliding": 4, "unknown_genes": 3}
    text = verdict_text(facts)
    assert "3 perturbed genes are not inputs" in text and "Map gene names" in text
    assert "at that ceiling" not in text  # 0.5 is well below 0.9


def test_model_limited_fit_and_saturation() -> None:
    text = verdict_text({**BASE, "best_train": 0.6, "best_eval": 0.58, "saturated_share": 0.8})
    assert "The ceiling is 1.0, so the model limits the fit" in text
    assert "80% of tanh units are saturated" in text


def test_undefined_pearson() -> None:
    text = verdict_text({**BASE, "best_train": None, "best_eval": None, "ceiling": None})
    assert text.startswith("Train-mode Pearson was undefined")
    assert "No model can exceed r undefined" in text


def test_overfit_prints_its_verdict(tmp_path: Path) -> None:
    args = ["overfit", "--go", "dna-repair", "--epochs", "3", "--threads", "1"]
    res = CliRunner().invoke(app, [*args, "--runs-dir", str(tmp_path)], env={"COLUMNS": "400"})
    assert res.exit_code == 0, res.output
    line = next(x for x in res.output.splitlines() if x.startswith("verdict:"))
    # the real DNA-repair batch: every gene is an input, the ceiling is 1
    assert "No model can exceed" not in line
    assert "The batch was" in line
