"""Same seed and thread count -> identical metrics.csv on CPU (the seconds column aside)."""

from __future__ import annotations

from dcellx.train import make_run_config, run
from tests.train.conftest import metrics_without_seconds


def _metrics(tmp_path, name: str, **kw) -> list[list[str]]:
    kw = {"epochs": 40, **kw}
    cfg = make_run_config(
        go="dna-repair", runs_dir=str(tmp_path / name), threads=1, quiet=True,
        keep_checkpoints="none", **kw,
    )  # fmt: skip
    return metrics_without_seconds(run(cfg).run_dir)


def test_same_seed_same_metrics(tmp_path) -> None:
    a = _metrics(tmp_path, "a", seed=5)
    b = _metrics(tmp_path, "b", seed=5)
    assert len(a) == 41 and a == b
    assert _metrics(tmp_path, "c", seed=6) != a  # the seed does reach the model


def test_batch_seed_draws_a_different_batch(tmp_path) -> None:
    a = _metrics(tmp_path, "a", batch_seed=1)
    assert a == _metrics(tmp_path, "b", batch_seed=1)
    assert a != _metrics(tmp_path, "c")


def test_train_mode_is_deterministic(tmp_path, small_data) -> None:
    kw = dict(mode="train", data=str(small_data), epochs=3, scheduler="cosine")
    assert _metrics(tmp_path, "a", **kw) == _metrics(tmp_path, "b", **kw)
