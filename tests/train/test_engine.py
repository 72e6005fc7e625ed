"""``RunConfig.engine``: new runs record the fused engine (the one named and the one that ran) and
the cost-model buckets, and a run on either engine trains the same model on real data (the same
function; only rounding differs)."""

from __future__ import annotations

import math

from dcellx.train import make_run_config, run
from dcellx.train.rundir import read_json
from tests.train.conftest import metrics_without_seconds


def _overfit(tmp_path, engine: str):
    cfg = make_run_config(
        go="dna-repair", epochs=30, seed=2, threads=1, quiet=True, engine=engine,
        runs_dir=str(tmp_path / engine),
    )  # fmt: skip
    return run(cfg).run_dir


def test_engines_train_the_same_model(tmp_path) -> None:
    fused, plain = _overfit(tmp_path, "fused"), _overfit(tmp_path, "autograd")
    recorded = read_json(fused / "config.json")["run"]
    assert (recorded["engine"], recorded["buckets"]) == ("fused", "cost-v1")
    assert read_json(plain / "config.json")["run"]["engine"] == "autograd"
    # the engine that ran, and no reason to fall back (dcellx.nn.engines)
    for run_dir, engine in ((fused, "fused"), (plain, "autograd")):
        model = read_json(run_dir / "config.json")["model"]
        assert (model["engine"], model["engine_note"]) == (engine, None)
    a, b = metrics_without_seconds(fused), metrics_without_seconds(plain)
    header = a[0]
    assert header == b[0] and len(a) == len(b) == 31
    cols = [header.index(c) for c in ("loss_total", "loss_root", "pearson_train_bn")]
    for ra, rb in zip(a[1:], b[1:], strict=True):
        for c in cols:
            assert math.isclose(float(ra[c]), float(rb[c]), rel_tol=1e-3, abs_tol=1e-4), (ra, rb)


def test_a_run_the_fused_engine_cannot_compute_records_why(tmp_path) -> None:
    cfg = make_run_config(
        go="dna-repair", epochs=2, seed=2, threads=1, quiet=True, model={"norm": "layer"},
        runs_dir=str(tmp_path),
    )  # fmt: skip
    recorded = read_json(run(cfg).run_dir / "config.json")
    assert recorded["run"]["engine"] == "fused"  # what the run asked for
    assert recorded["model"]["engine"] == "autograd"
    assert recorded["model"]["engine_note"] == (
        "the fused engine does not support norm 'layer'; running on autograd"
    )
