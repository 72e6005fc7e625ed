"""``--score-sample``: validation every epoch and every split at the end are scored on at most N
rows, a sample fixed by the seed (sorted, the same rows every epoch), recorded in summary.json;
without it every row is scored, as before. And ``train``'s throughput forecast: one line after the
warm-up, its figures in summary.json, nothing of it in metrics.csv. Real DNA-repair genotypes."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from rich.console import Console
from typer.testing import CliRunner

from dcellx.errors import ConfigError
from dcellx.train import checkpoint, make_run_config, run
from dcellx.train.data import load_run_data
from dcellx.train.evaluate import predict_split, sample_rows, score_rows
from dcellx.train.metrics import TRAIN_COLUMNS, read_metrics, regression_metrics
from dcellx.train.models import build_model
from dcellx.train.throughput import MEASURED_STEPS, WARMUP_STEPS
from dcellx_cli.main import app
from tests.train.conftest import metrics_without_seconds


def _cfg(tmp_path, data, **kw):
    fields = dict(mode="train", go="dna-repair", data=str(data), epochs=3, threads=1, seed=5)
    return make_run_config(runs_dir=str(tmp_path), quiet=True, **{**fields, **kw})


def _model(cfg, data, path):
    """The run's model with the weights of checkpoint file ``path``."""
    model = build_model(data.onto, cfg.model, cfg.variant, cfg.seed)
    model.load_term_state_dict(checkpoint.load(path)["model"])
    return model.eval()


def test_sample_is_seeded_sorted_and_bounded() -> None:
    rows = np.random.default_rng(0).permutation(1000)[:600]
    a, b = sample_rows(rows, 50, 3, "val"), sample_rows(rows, 50, 3, "val")
    assert len(a) == 50 and (a == b).all() and (np.diff(a) > 0).all()
    assert set(a) <= set(rows)
    assert not (a == sample_rows(rows, 50, 4, "val")).all()  # another seed, another sample
    assert not (a == sample_rows(rows, 50, 3, "test")).all()  # each split its own draw
    assert sample_rows(rows, None, 3, "val") is rows  # no sample: the rows as they are
    assert sample_rows(rows, 600, 3, "val") is rows


def test_scoring_uses_the_sample_every_epoch_and_at_the_end(tmp_path, small_data) -> None:
    cfg = _cfg(tmp_path, small_data, score_sample=30, keep_checkpoints="all", checkpoint_every=1)
    res = run(cfg)
    s = res.summary
    assert s["scoring"] == {
        "score_sample": 30,
        "splits": {
            "train": {"rows": 30, "of": 360, "sampled": True},
            "val": {"rows": 30, "of": 40, "sampled": True},
        },
    }
    assert {k: v["n"] for k, v in s["metrics"].items()} == {"train": 30, "val": 30}
    assert json.loads((res.run_dir / "config.json").read_text())["run"]["score_sample"] == 30
    data = load_run_data(cfg)
    rows = score_rows(data, 30, cfg.seed)
    val = rows["val"]
    # each epoch's validation loss is the MSE over the same 30 rows, with that epoch's weights
    for epoch, row in enumerate(read_metrics(res.run_dir), 1):
        model = _model(cfg, data, res.run_dir / f"checkpoint-e{epoch:05d}.pt")
        p = predict_split(model, data.val, val, torch.device("cpu"))
        assert row["val_loss"] == float(np.mean((p - data.val.z[val].astype(np.float64)) ** 2))
    # and the final metrics are those of the best weights on each split's sample
    best = _model(cfg, data, res.run_dir / "weights-best.pt")
    for name, split in data.parts().items():
        pred = data.labels.inverse(predict_split(best, split, rows[name], torch.device("cpu")))
        assert s["metrics"][name] == regression_metrics(pred, split.raw[rows[name]])


def test_without_a_sample_every_row_is_scored(tmp_path, small_data) -> None:
    res = run(_cfg(tmp_path, small_data, epochs=2))
    splits = res.summary["scoring"]["splits"]
    assert res.summary["scoring"]["score_sample"] is None
    assert splits == {
        "train": {"rows": 360, "of": 360, "sampled": False},
        "val": {"rows": 40, "of": 40, "sampled": False},
    }
    assert {k: v["n"] for k, v in res.summary["metrics"].items()} == {"train": 360, "val": 40}


def test_a_sample_as_large_as_the_split_changes_nothing(tmp_path, small_data) -> None:
    whole = run(_cfg(tmp_path / "a", small_data, epochs=2))
    large = run(_cfg(tmp_path / "b", small_data, epochs=2, score_sample=10_000))
    assert metrics_without_seconds(whole.run_dir) == metrics_without_seconds(large.run_dir)
    assert whole.summary["metrics"] == large.summary["metrics"]


def test_overfit_refuses_a_score_sample() -> None:
    with pytest.raises(ConfigError, match="score_sample: overfit scores its one batch"):
        make_run_config(go="dna-repair", score_sample=10)


def test_throughput_forecast_is_said_once_and_recorded(tmp_path, small_data) -> None:
    out = io.StringIO()
    cfg = _cfg(tmp_path / "a", small_data).model_copy(update={"quiet": False})
    res = run(cfg, console=Console(file=out, width=200))
    lines = [ln for ln in out.getvalue().splitlines() if ln.startswith("throughput:")]
    assert len(lines) == 1 and "samples/s" in lines[0] and "per epoch" in lines[0]
    t = res.summary["throughput"]
    assert (t["warmup_steps"], t["measured_steps"]) == (WARMUP_STEPS, MEASURED_STEPS)
    assert t["planned_steps"] == 3 * 12 and t["process_steps"] == 36
    for key in ("samples_per_s", "predicted_epoch_s", "predicted_total_s", "actual_s"):
        assert t[key] > 0
    # the prediction is the measured rate applied to the epoch's 360 rows
    assert t["predicted_epoch_s"] == pytest.approx(360 / t["samples_per_s"], rel=1e-3)
    assert t["actual_s"] == res.summary["seconds"]
    assert list(read_metrics(res.run_dir)[0]) == list(TRAIN_COLUMNS)  # no wall-clock columns
    # quiet: nothing said, still recorded; the metrics are those of the talkative run
    out = io.StringIO()
    quiet = run(_cfg(tmp_path / "b", small_data), console=Console(file=out, width=200))
    assert "throughput" not in out.getvalue() and quiet.summary["throughput"]["samples_per_s"]
    assert metrics_without_seconds(quiet.run_dir) == metrics_without_seconds(res.run_dir)


def test_a_short_run_measures_what_it_has(tmp_path, small_data) -> None:
    """--max-steps 5: two warm-up steps, three measured; --max-steps 2: nothing to measure."""
    five = run(_cfg(tmp_path / "a", small_data, max_steps=5)).summary["throughput"]
    assert five["measured_steps"] == 3 and five["samples_per_s"] > 0
    two = run(_cfg(tmp_path / "b", small_data, max_steps=2)).summary["throughput"]
    assert two["measured_steps"] == 0 and "samples_per_s" not in two
    assert two["process_steps"] == 2


def test_the_flags_reach_the_run(tmp_path, small_data) -> None:
    """``dcellx train --max-steps --score-sample``, as the command line gives them."""
    args = ["train", "--go", "dna-repair", "--data", str(small_data), "--threads", "1"]
    args += ["--max-steps", "14", "--score-sample", "25", "--runs-dir", str(tmp_path), "-q"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    (run_dir,) = tmp_path.iterdir()
    config = json.loads((run_dir / "config.json").read_text())["run"]
    assert (config["max_steps"], config["score_sample"]) == (14, 25)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["status"], summary["steps"], summary["epochs"]) == ("max_steps", 14, 2)
    assert summary["scoring"]["splits"]["val"] == {"rows": 25, "of": 40, "sampled": True}
