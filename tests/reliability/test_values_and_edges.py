"""Silent nonsense and rough edges of issue 27: labels beyond float32, constant labels, a
``config.json`` that disagrees with its weights, ``predict --device``, ``--threads`` above the
CPUs, a refused screen's cache record, a dangling ``--runs-dir`` symlink."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from tests.reliability.conftest import OVERFIT, refused

GENES = ["YLR035C YML060W", "YER142C YHL006C", "YNL273W YBR289W", "YDR363W-A YGL087C"]


def overfit(cli, data: Path, tmp_path: Path, *more: str):
    runs = tmp_path / "runs"
    res = cli(*OVERFIT, "--data", str(data), "--batch-size", "4", *more, "--runs-dir", str(runs))
    return res, runs


def table_text(values: list[str]) -> str:
    rows = "".join(f"{g.replace(' ', ';')},{v}\n" for g, v in zip(GENES, values, strict=True))
    return "genes,value\n" + rows


def dcell_text(values: list[str]) -> str:
    return "".join(f"2 {g} {v}\n" for g, v in zip(GENES, values, strict=True))


@pytest.mark.parametrize(
    ("name", "text", "where", "value"),
    [
        ("dcell.txt", dcell_text(["0.1", "1e308", "0.2", "0"]), 2, "1e+308"),
        ("table.csv", table_text(["0.1", "0.3", "-1e39", "0"]), 4, "-1e+39"),
    ],
)
def test_a_label_beyond_float32_is_refused_at_its_line(
    name: str, text: str, where: int, value: str, tmp_path: Path, cli
) -> None:
    """Finite in float64, ``inf`` in the float32 a model trains in: the run trained to NaN and
    exited 0."""
    data = tmp_path / name
    data.write_text(text)
    res, runs = overfit(cli, data, tmp_path, "--label-norm", "none")
    refused(res, f"{data}:{where}: value {value} is outside the float32 range")
    assert not runs.exists()


@pytest.mark.parametrize("norm", ["none", "zscore"])
def test_constant_labels_are_refused_whatever_the_label_norm(
    norm: str, tmp_path: Path, cli
) -> None:
    """``--label-norm none`` ran to NaN and the verdict blamed constant predictions and genes."""
    data = tmp_path / "flat.txt"
    data.write_text(dcell_text(["0.25"] * 4))
    res, runs = overfit(cli, data, tmp_path, "--label-norm", norm)
    refused(res, f"{data}: all 4 labels fitted are 0.25: constant labels leave nothing to learn")
    assert not runs.exists()


@pytest.fixture
def finished(tmp_path: Path, cli) -> Path:
    runs = tmp_path / "done"
    assert cli(*OVERFIT, "--epochs", "3", "--runs-dir", str(runs)).code == 0
    (run,) = runs.iterdir()
    return run


@pytest.mark.parametrize(("field", "value"), [("width_floor", 7), ("norm", "layer")])
def test_predict_takes_the_checkpoints_config_and_refuses_an_edited_one(
    field: str, value: object, finished: Path, tmp_path: Path, cli
) -> None:
    """A changed width was a traceback; a changed norm gave other predictions silently."""
    args = ["predict", "--run", str(finished), "--data", "dcell-dna-repair"]
    assert cli(*args, "--out", str(tmp_path / "before.csv")).code == 0
    path = finished / "config.json"
    config = json.loads(path.read_text())
    was = config["run"]["model"][field]
    config["run"]["model"][field] = value
    path.write_text(json.dumps(config))
    res = cli(*args, "--out", str(tmp_path / "after.csv"))
    refused(res, f"{path}: model.{field} is {value!r} but the weights were trained with {was!r}")
    assert not (tmp_path / "after.csv").exists()


def test_predict_checks_its_device(finished: Path, tmp_path: Path, cli) -> None:
    args = ["predict", "--run", str(finished), "--data", "dcell-dna-repair"]
    args += ["--out", str(tmp_path / "p.csv")]
    refused(cli(*args, "--device", "banana"), "device 'banana': not a torch device")
    if not torch.cuda.is_available():
        refused(cli(*args, "--device", "cuda"), "device 'cuda': CUDA is not available here")
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize("command", ["diagnose", "rlipp"])
def test_commands_that_run_a_finished_model_check_its_device(
    command: str, finished: Path, cli
) -> None:
    """``diagnose --run`` and ``rlipp`` take ``--device`` and check it as ``predict`` does, before
    anything is read; on the CPU they run as before."""
    args = [command, "--run", str(finished)]
    refused(cli(*args, "--device", "banana"), "device 'banana': not a torch device")
    if not torch.cuda.is_available():
        refused(cli(*args, "--device", "cuda"), "device 'cuda': CUDA is not available here")
    assert not (finished / "rlipp.csv").exists()
    res = cli(*args, "--device", "cpu", *(["--json"] if command == "diagnose" else []))
    assert res.code == 0, res.err
    if command == "diagnose":
        assert json.loads(res.out)["strata"]


def test_device_without_a_model_to_run_is_refused(tmp_path: Path, cli) -> None:
    refused(cli("diagnose", "--device", "cuda"), "--device cuda: only --run runs a model")
    out = tmp_path / "report"
    refused(cli("report", "--out", str(out), "--device", "banana"), "device 'banana'")
    assert not out.exists()


def test_more_threads_than_cpus_is_said_with_both_numbers(tmp_path: Path, cli) -> None:
    """``--threads 999`` on 2 cores ran 100x slower without a word."""
    n = len(os.sched_getaffinity(0)) + 1
    runs = tmp_path / "runs"
    args = [a for a in OVERFIT if a not in ("--threads", "1")]
    res = cli(*args, "--threads", str(n), "--epochs", "1", "--runs-dir", str(runs))
    assert res.code == 0, res.err
    warning = [ln for ln in res.err.splitlines() if ln.startswith("warning: --threads")]
    assert warning == [
        f"warning: --threads {n} is more than the {n - 1} CPUs available to this process: expect "
        "a much slower run (the same --threads keeps its results reproducible)"
    ]


COSTANZO_HEADER = (
    "Query Strain ID\tQuery allele name\tArray Strain ID\tArray allele name\tArraytype/Temp\t"
    "Genetic interaction score (ε)\tP-value\tDouble mutant fitness\n"
)


def test_a_refused_screen_leaves_no_cache_record(
    tmp_path: Path, cli, reliability_env: Path
) -> None:
    """The screen cache recorded the file's sha256 before reading it."""
    screen = tmp_path / "SGA_ExE.txt"
    screen.write_text(
        COSTANZO_HEADER
        + "YLR035C_sn1\tmlh2\tYML060W_dma1\togg1\tDMA30\t0.1\t0.01\t0.9\n"
        + "not-a-strain\tx\tYML060W_dma1\togg1\tDMA30\t0.1\t0.01\t0.9\n"
    )
    res, runs = overfit(cli, screen, tmp_path)
    refused(res, f"{screen}:3: strain id 'not-a-strain' names no systematic ORF")
    index = reliability_env / "screens" / "index.json"
    assert not index.exists() or str(screen.resolve()) not in json.loads(index.read_text())
    assert not runs.exists()


def test_a_dangling_runs_dir_symlink_is_named_as_such(tmp_path: Path, cli) -> None:
    """It was reported as "(File exists)"."""
    link = tmp_path / "runs"
    os.symlink(tmp_path / "gone" / "runs", link)
    res = cli(*OVERFIT, "--epochs", "1", "--runs-dir", str(link))
    refused(
        res,
        f"{link}: cannot create a run directory ({link} is a symlink to {tmp_path}/gone/runs, "
        "which does not exist)",
    )
