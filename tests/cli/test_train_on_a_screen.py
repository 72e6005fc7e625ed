"""``dcellx train --data <Costanzo 2016 file>`` end to end, on a file in the published layout.

The file holds the real DCell DNA-repair training pairs and their measured scores, written as
Costanzo 2016 SGA rows (each pair twice: query x array and, with another value, array x query,
so the reader merges 2 measurements per genotype). Read through the block reader and the cache,
it must give the same genotypes as the DCell-format file they came from, and train.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dcellx.data import blocks
from dcellx.data.genotypes import read_dcell_genotypes
from dcellx.data.screens import load_screen
from dcellx_cli.main import app
from tests.data.test_screens import COSTANZO_HEADER


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch, isolated_cache: Path, shared_data: Path) -> None:
    monkeypatch.setenv("DCELLX_MIRROR", str(shared_data))
    monkeypatch.setenv("DCELLX_OFFLINE", "1")
    monkeypatch.setattr(blocks, "BLOCK_BYTES", 1 << 16)  # many blocks in a modest file


def _as_costanzo(dcell: Path, out: Path) -> Path:
    rows = [COSTANZO_HEADER]
    for i, line in enumerate(dcell.read_text().splitlines()):
        k, a, b, value = line.split()
        assert k == "2"
        for q, r, v in ((a, b, float(value) + 0.01), (b, a, float(value) - 0.01)):
            rows.append(
                f"{q}_sn{i}\t{q.lower()}\t{r}_dma{i}\t{r.lower()}\tDMA30\t{v!r}\t0.01\t"
                "0.9\t0.9\t0.8\t0.05"
            )
    out.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return out


def test_train_on_a_costanzo_file(tmp_path: Path, shared_data: Path) -> None:
    dcell = shared_data / "dcell" / "GO_0006281_training_data_2016_0"
    screen = _as_costanzo(dcell, tmp_path / "SGA_ExE.txt")
    expected = read_dcell_genotypes(dcell)
    ds = load_screen(screen)
    assert len(ds) == len(expected) == 8783
    assert {frozenset(g) for g in ds.genes} == {frozenset(g) for g in expected.genes}
    assert ds.counts.tolist() == [2] * len(ds)
    # (v + 0.01 + v - 0.01) / 2 == v up to rounding
    order = {frozenset(g): i for i, g in enumerate(expected.genes)}
    want = expected.values[[order[frozenset(g)] for g in ds.genes], 0]
    np.testing.assert_allclose(ds.values[:, 0], want, rtol=0, atol=1e-12)
    runs = tmp_path / "runs"
    args = ["train", "--go", "dna-repair", "--data", str(screen), "--epochs", "2"]
    args += ["--batch-size", "512", "--runs-dir", str(runs), "--quiet", "--threads", "1"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    (run,) = runs.iterdir()
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["train"] + config["data"]["val"] == 8783
    summary = json.loads((run / "summary.json").read_text())
    assert summary["status"] == "completed" and np.isfinite(summary["final_pearson_eval_bn"])
    assert (run / "metrics.csv").read_text().count("\n") == 3  # header + 2 epochs
