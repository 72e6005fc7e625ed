"""A run directory holds everything the issue lists, with the documented keys and columns."""

from __future__ import annotations

import json
import re
import time

from dcellx.nn.config import make_config
from dcellx.nn.dcell import DCell
from dcellx.train import checkpoint, make_run_config, run, rundir
from dcellx.train.metrics import COLUMNS
from dcellx.train.rundir import create_run_dir, write_json

SUMMARY_KEYS = {
    "best_pearson_eval_bn",
    "best_epoch",
    "best_pearson_train_bn",
    "final_pearson_train_bn",
    "final_pearson_eval_bn",
    "epochs",
    "seconds",
    "epochs_to_0.9_eval_bn",
    "epochs_to_0.9_train_bn",
    "params",
}


def test_run_directory_is_complete(tmp_path, onto_dna) -> None:
    cfg = make_run_config(
        go="dna-repair", epochs=30, checkpoint_every=10, runs_dir=str(tmp_path), threads=1,
        quiet=True, keep_checkpoints="last",
    )  # fmt: skip
    result = run(cfg)
    d = result.run_dir
    assert re.fullmatch(r"\d{8}-\d{6}-binary-s0-[0-9a-f]{4}", d.name)
    names = {p.name for p in d.iterdir()}
    assert names == {
        "config.json", "env.json", "metrics.csv", "metrics.jsonl", "summary.json",
        "checkpoint-last.pt", "weights-best.pt", "curves.png", "run.lock",
    }  # fmt: skip
    config = json.loads((d / "config.json").read_text())
    assert config["run"]["epochs"] == 30 and config["run"]["model"]["preset"] == "paper"
    assert config["run"]["threads"] == 1 and config["run"]["model"]["alpha"] == 0.3
    assert config["ontology"]["content_hash"] == onto_dna.content_hash
    assert config["ontology"]["recipe"]["name"] == "dna-repair"
    assert config["data"]["batch_rows"] == list(range(32))
    assert config["labels"]["norm"] == "zscore" and config["labels"]["std"] > 0
    env = json.loads((d / "env.json").read_text())
    for key in ("python", "dcellx", "git_commit", "host", "slurm", "torch_threads"):
        assert key in env
    assert env["packages"]["torch"] and env["packages"]["pydantic"]
    assert env["ontology_content_hash"] == onto_dna.content_hash
    assert set(env["data_sha256"]) == {"train", "test"}
    lines = (d / "metrics.csv").read_text().splitlines()
    assert lines[0] == ",".join(COLUMNS) and len(lines) == 31
    jsonl = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in jsonl] == list(range(1, 31)) and set(jsonl[0]) == set(COLUMNS)
    summary = json.loads((d / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary) and summary["epochs"] == 30
    best = max(r["pearson_eval_bn"] for r in jsonl)
    assert summary["best_pearson_eval_bn"] == best
    assert jsonl[summary["best_epoch"] - 1]["pearson_eval_bn"] == best
    assert summary == result.summary
    assert (d / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # checkpoints: term-named model, optimiser, RNG, epoch, config, ontology hash, labels
    last = checkpoint.load(d / "checkpoint-last.pt")
    assert last["epoch"] == 30 and last["ontology_hash"] == onto_dna.content_hash
    assert {"model", "optimizer", "rng", "config", "labels", "loop"} <= set(last)
    assert any(k.startswith("terms.GO:") for k in last["model"])
    best_w = checkpoint.load(d / "weights-best.pt")
    assert best_w["epoch"] == summary["best_epoch"] and "optimizer" not in best_w
    model = DCell(onto_dna, make_config("paper"))
    model.load_term_state_dict(best_w["model"])  # loadable into a fresh model by term name
    assert not list(d.glob(".*.tmp"))


def test_keep_checkpoints_policies(tmp_path) -> None:
    base = dict(go="dna-repair", epochs=6, checkpoint_every=3, threads=1, quiet=True)
    found = {}
    for keep in ("best", "last", "all", "none", None):
        cfg = make_run_config(runs_dir=str(tmp_path / str(keep)), keep_checkpoints=keep, **base)
        found[keep] = {p.name for p in run(cfg).run_dir.glob("*.pt")}
    assert found["best"] == found[None] == {"weights-best.pt"}  # the default
    assert found["last"] == {"checkpoint-last.pt", "weights-best.pt"}
    assert found["all"] == {
        "checkpoint-last.pt", "weights-best.pt", "checkpoint-e00003.pt", "checkpoint-e00006.pt"
    }  # fmt: skip
    assert found["none"] == set()


def test_run_ids_unique_within_one_second(tmp_path, monkeypatch) -> None:
    # one frozen second for all of them: uniqueness must come from the id, not from the clock
    frozen = time.localtime(1_780_000_000)
    monkeypatch.setattr(rundir.time, "localtime", lambda now=None: frozen)
    dirs = {create_run_dir(tmp_path, "binary", 0) for _ in range(20)}
    assert len(dirs) == 20 and len({d.name[:15] for d in dirs}) == 1


def test_atomic_json_never_leaves_partial_file(tmp_path) -> None:
    path = tmp_path / "x.json"
    write_json(path, {"a": float("nan"), "b": [1, 2]})
    assert json.loads(path.read_text()) == {"a": None, "b": [1, 2]}

    class Boom:
        def __str__(self) -> str:
            raise RuntimeError("serialisation failed half-way")

    try:
        write_json(path, {"a": Boom()})
    except RuntimeError:
        pass
    assert json.loads(path.read_text())["b"] == [1, 2]  # the previous complete file survives
    assert not list(tmp_path.glob(".*.tmp"))


def test_mlp_control_matches_dcell_parameter_count(tmp_path, onto_dna) -> None:
    cfg = make_run_config(
        go="dna-repair", variant="mlp", epochs=3, runs_dir=str(tmp_path), threads=1, quiet=True
    )
    summary = run(cfg).summary
    dcell = DCell(onto_dna, make_config("paper")).num_parameters()
    assert abs(summary["params"] - dcell) / dcell < 0.02
    assert summary["epochs"] == 3
