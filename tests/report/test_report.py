"""`dcellx report` end to end on the small real ontology (DNA repair), tiny epochs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_report_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "report"
    cmd = [sys.executable, "-c", "from dcellx_cli.main import main; main()", "report"]
    cmd += ["--go", "dna-repair", "--quick", "--epochs", "2", "--out", str(out), "--threads", "1"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    text = (out / "report.md").read_text()
    for heading in ("Identifiability ceiling", "Overfitting one batch", "Levers", "equivalence"):
        assert heading.lower() in text.lower()
    assert (out / "ceiling-vs-fit.png").stat().st_size > 1000
    assert (out / "overfit-dna-repair.png").exists()
    # every variant and control appears with numbers
    for v in ("binary", "embedding-attention", "shuffled-ontology", "mlp"):
        assert f"| {v} |" in text
    assert "max |difference|" in text
    # the users' setting (quick: tiny sizes) opens the report with the answer
    assert text.index("## The answer") < text.index("## The users' setting")
    assert "### Table U1: main grid (dcell-new)" in text
    assert "| torchcell-2017 | torchcell-index-guard | batch | first-32 |" in text
    assert (out / "users-setting.png").stat().st_size > 1000
    # ceilings over many batches (no training) and the plain opening that quotes them
    assert "### Table U0: identifiability ceilings over 40 batches of 32" in text
    assert (out / "ceilings-many-batches.png").stat().st_size > 1000
    assert "`if gene_idx < len(genes):`" in text and "simulated records" in text
    assert "what the previous rebuild measured after `model.eval()`" not in text
    # embeddings where they could matter: under the guard, at another e_g scale, on held-out genes
    assert "### Table U3b: embedding variants under the index guard" in text
    assert "### Table U3c: the flattened embedding's plateau against the scale of e_g" in text
    assert "### Table U6: generalisation on real data (DNA-repair pairs, train mode)" in text
    assert "| genes | embedding (fixed e_g) |" in text and "| genes | binary |" in text
    # a second call reuses the finished sweeps instead of re-running them
    r2 = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r2.returncode == 0 and "reusing" in r2.stdout
