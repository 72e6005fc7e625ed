"""``--log tensorboard|wandb``: the values the trackers hold, read back with TensorBoard's own
event reader and from W&B's offline run file, equal ``metrics.csv`` (and the config logged is
``config.json``); W&B needs no network; a tracker that fails, at start or mid-run, is one warning
and the run's ``metrics.csv`` is that of a run without trackers. Real CLI runs on the DNA-repair
data."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import struct
import subprocess
import time
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator
from tensorboard.util import tensor_util
from wandb.proto import wandb_internal_pb2

from dcellx.train.signals import TEST_ENV
from tests.train.conftest import CLI, ROOT, metrics_without_seconds, only_run, run_cli

OVERFIT = ["overfit", "--go", "dna-repair", "--epochs", "20", "--threads", "1", "-q"]


@pytest.fixture
def env(tmp_path, cli_env) -> dict[str, str]:
    """W&B's own folders in the test's; no WANDB_MODE (offline is dcellx's default) and a W&B
    server address where nothing listens, so any attempt to reach the network would fail."""
    out = {k: v for k, v in cli_env.items() if not k.startswith("WANDB_")}
    for name in ("CONFIG", "CACHE", "DATA"):
        out[f"WANDB_{name}_DIR"] = str(tmp_path / f"wandb-{name.lower()}")
    out["WANDB_BASE_URL"] = "http://127.0.0.1:9"
    return out


def _metrics(run_dir: Path) -> list[dict[str, float]]:
    with open(run_dir / "metrics.csv", newline="") as fh:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(fh)]


def tensorboard_values(run_dir: Path) -> tuple[dict[str, dict[int, float]], str]:
    """Every scalar by tag and step, and the config text, as the reader behind TensorBoard's
    server sees them (it drops the events a restarted writer purges)."""
    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"tensors": 0})
    acc.Reload()
    (text,) = acc.Tensors("config/text_summary")
    config = tensor_util.make_ndarray(text.tensor_proto).ravel()[0].decode()
    values: dict[str, dict[int, float]] = {}
    for tag in acc.Tags()["tensors"]:
        for event in acc.Tensors(tag) if tag != "config/text_summary" else []:
            values.setdefault(tag, {})
            assert event.step not in values[tag], (tag, event.step)  # each epoch once
            values[tag][event.step] = tensor_util.make_ndarray(event.tensor_proto).item()
    return values, config


def wandb_records(run_dir: Path) -> list[wandb_internal_pb2.Record]:
    """The records of W&B's offline run file (``run-<id>.wandb``): its header, then 32 KiB blocks
    of length-prefixed records (W&B's LevelDB-style log)."""
    (path,) = (run_dir / "wandb").glob("offline-run-*/run-*.wandb")
    raw = path.read_bytes()
    assert struct.unpack("<4sH", raw[:6]) == (b":W&B", 0xBEE1)
    block, pos, part, records = 32768, 7, b"", []
    while pos + 7 <= len(raw):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", raw[pos : pos + 7])
        data, pos = raw[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 0:
            break
        part = data if kind in (1, 2) else part + data  # full, first / middle, last
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(part)
            records.append(record)
    return records


def wandb_values(run_dir: Path) -> tuple[list[dict[str, float]], dict]:
    """The history rows (W&B's own ``_`` keys dropped) and the config of the offline run."""
    history, config = [], {}
    for record in wandb_records(run_dir):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            row = {"/".join(i.nested_key) or i.key: json.loads(i.value_json)
                   for i in record.history.item}  # fmt: skip
            history.append({k: float(v) for k, v in row.items() if not k.startswith("_")})
        elif kind == "run":
            for item in record.run.config.update:
                if item.key != "_wandb":
                    config[item.key] = json.loads(item.value_json)
    return history, config


def test_the_trackers_hold_the_values_of_metrics_csv(tmp_path, env) -> None:
    runs = tmp_path / "runs"
    res = run_cli([*OVERFIT, "--log", "tensorboard,wandb", "--runs-dir", str(runs)], env)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    d = only_run(runs)
    rows = _metrics(d)
    assert len(rows) == 20
    config = json.loads((d / "config.json").read_text())
    assert config["run"]["log"] == ["tensorboard", "wandb"]
    board, text = tensorboard_values(d)
    columns = [c for c in rows[0] if c != "epoch"]
    assert sorted(board) == sorted(columns)
    for column in columns:
        assert board[column] == {int(r["epoch"]): r[column] for r in rows}, column
    assert json.loads(text.removeprefix("```json\n").removesuffix("\n```")) == config
    history, logged = wandb_values(d)
    assert history == rows and logged == config
    # the run computed what it computes without trackers
    plain = run_cli([*OVERFIT, "--runs-dir", str(tmp_path / "plain")], env)
    assert plain.returncode == 0, plain.stderr
    assert metrics_without_seconds(d) == metrics_without_seconds(only_run(tmp_path / "plain"))


def test_train_mode_logs_val_loss_and_a_resumed_run_each_epoch_once(
    tmp_path, env, small_data
) -> None:
    """Killed after its epoch-2 checkpoint, during epoch 3 (logged before the kill): the resumed
    process purges what it computes again, so TensorBoard holds every epoch once."""
    runs = tmp_path / "runs"
    args = ["train", "--go", "dna-repair", "--data", str(small_data), "--epochs", "4"]
    args += ["--threads", "1", "--checkpoint-every", "2", "--log", "tensorboard", "-q"]
    res = run_cli([*args, "--runs-dir", str(runs)], {**env, TEST_ENV: "SIGKILL@4.2"})
    assert res.returncode == -signal.SIGKILL
    d = only_run(runs)
    killed, _ = tensorboard_values(d)
    assert sorted(killed["val_loss"]) == [1, 2, 3]
    res = run_cli(["train", "--resume", str(d), "-q"], env)
    assert res.returncode == 0, res.stderr
    rows = _metrics(d)
    board, _ = tensorboard_values(d)
    for column in ("val_loss", "loss_total", "pearson_eval_bn"):
        assert board[column] == {int(r["epoch"]): r[column] for r in rows}, column


def test_a_tracker_that_cannot_start_is_a_warning(tmp_path, env) -> None:
    """The run's tensorboard/ is a file (an unwritable tracker directory) when it resumes."""
    runs = tmp_path / "runs"
    args = [*OVERFIT, "--log", "tensorboard", "--runs-dir", str(runs)]
    assert run_cli(args, {**env, TEST_ENV: "SIGTERM@8"}).returncode == 143
    d = only_run(runs)
    for event in (d / "tensorboard").iterdir():
        event.unlink()
    (d / "tensorboard").rmdir()
    (d / "tensorboard").write_text("not a directory\n")
    res = run_cli(["overfit", "--resume", str(d), "-q"], env)
    assert res.returncode == 0, res.stderr
    (line,) = res.stderr.splitlines()
    assert line.startswith("warning: --log tensorboard failed at start (")
    assert line.endswith("); the run goes on without it (metrics.csv)")
    assert run_cli([*OVERFIT, "--runs-dir", str(tmp_path / "plain")], env).returncode == 0
    assert metrics_without_seconds(d) == metrics_without_seconds(only_run(tmp_path / "plain"))
    assert (d / "tensorboard").read_text() == "not a directory\n"


def _children(pid: int) -> dict[int, str]:
    """Processes whose parent is ``pid``, with their command lines."""
    out = {}
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            if entry.name.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out[int(entry.name)] = (entry / "cmdline").read_text().replace("\0", " ")
        except (OSError, ValueError, IndexError):
            continue
    return out


def test_a_tracker_that_dies_mid_run_is_one_warning_and_the_run_goes_on(tmp_path, env) -> None:
    """W&B's service process (``wandb-core``, which writes the offline run) is killed while the
    run trains: the next epoch's log fails, W&B is dropped with one warning, the run finishes
    with exit 0 and the metrics.csv of a run without trackers."""
    runs = tmp_path / "runs"
    args = [*OVERFIT[:3], "--epochs", "600", *OVERFIT[5:], "--log", "wandb"]
    proc = subprocess.Popen(
        [*CLI, *args, "--runs-dir", str(runs)], env=env, cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120  # a hang guard, not a speed requirement
        service = None
        while service is None and time.monotonic() < deadline and proc.poll() is None:
            started = list(runs.glob("*/metrics.csv"))
            if started and len(started[0].read_text().splitlines()) > 1:  # an epoch logged
                service = next((p for p, c in _children(proc.pid).items() if "wandb" in c), None)
            time.sleep(0.02)
        assert service is not None, "no wandb service under a running run"
        os.kill(service, signal.SIGKILL)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    (line,) = err.splitlines()
    # the next log after the kill fails (or, had the run ended first, the close)
    assert re.match(r"warning: --log wandb failed at (epoch \d+|close) \(", line), line
    d = only_run(runs)
    plain = run_cli([*args[:-2], "--runs-dir", str(tmp_path / "plain")], env)
    assert plain.returncode == 0, plain.stderr
    assert metrics_without_seconds(d) == metrics_without_seconds(only_run(tmp_path / "plain"))
    assert json.loads((d / "summary.json").read_text())["epochs"] == 600
