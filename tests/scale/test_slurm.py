"""SLURM job arrays on a real single-node SLURM (munge, slurmctld, slurmd): the generated script,
submission and collection of a 2-task array, and a requeued task resuming from its checkpoint."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from dcellx.errors import ConfigError
from dcellx.scale.slurm import SCRIPT, SlurmOptions, sweep_status, write_array
from dcellx.scale.task import load_plan, run_point
from dcellx.train.checkpoint import LAST
from dcellx.train.compare import RunSpec, plan_sweep
from dcellx.train.loop import run
from tests.scale.conftest import wait_for_queue
from tests.train.conftest import metrics_without_seconds, run_cli

SMALL = ["--go", "dna-repair", "--threads", "1", "--cpus", "1", "--mem", "500", "--time", "10"]


def _submit(args: list[str], env: dict[str, str]) -> dict:
    res = run_cli(["slurm", *args, "--submit", "--json"], env)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["job_id"].isdigit()
    return out


def _job_name(sweep_dir) -> str:
    text = (sweep_dir / SCRIPT).read_text()
    return re.search(r"^#SBATCH --job-name=(\S+)", text, re.MULTILINE).group(1)


def test_script_passes_bash_n_and_holds_the_directives(tmp_path) -> None:
    plan = plan_sweep(["binary"], [0, 1, 2], "overfit", {}, RunSpec(fields={"go": "dna-repair"}))
    opts = SlurmOptions(
        partition="gpu", time="02:00:00", cpus=4, mem="8G", array_parallel=2,
        signal="B:USR1@300", extra=["--account=lab"],
    )  # fmt: skip
    job = write_array(plan, opts, runs_dir=tmp_path, workdir=tmp_path)
    text = job.script.read_text()
    assert subprocess.run(["bash", "-n", str(job.script)]).returncode == 0
    for line in (
        "--array=0-2%2", "--requeue", "--signal=B:USR1@300", "--partition=gpu",
        "--time=02:00:00", "--cpus-per-task=4", "--mem=8G", "--open-mode=append",
        f"--chdir={tmp_path}", "--account=lab", "--ntasks=1",
    ):  # fmt: skip
        assert f"#SBATCH {line}\n" in text, line
    assert "sweep-run" in text and '--point "$SLURM_ARRAY_TASK_ID" &' in text  # background
    assert "trap 'kill -TERM \"$child\" 2>/dev/null' USR1" in text and 'wait "$child"' in text
    assert 'scontrol requeue "$SLURM_JOB_ID"' in text
    assert json.loads((job.sweep_dir / "sweep.json").read_text())["seeds"] == [0, 1, 2]
    # multi-node DDP: srun starts the ranks; rendezvous from the allocation
    ddp = write_array(plan, SlurmOptions(gpus=4, nodes=2), job.sweep_dir, ddp=True, sync_bn=True)
    text = ddp.script.read_text()
    assert subprocess.run(["bash", "-n", str(ddp.script)]).returncode == 0
    for line in ("--nodes=2", "--ntasks-per-node=4", "--gpus-per-node=4"):
        assert f"#SBATCH {line}\n" in text, line
    assert "srun --kill-on-bad-exit=1" in text and "--ddp --sync-bn &" in text
    assert "export MASTER_PORT=" in text
    for bad in (SlurmOptions(time="2 hours"), SlurmOptions(signal="TERM@x")):
        with pytest.raises(ConfigError):
            write_array(plan, bad, job.sweep_dir)


def test_thirty_task_array_from_the_cli(tmp_path, cli_env) -> None:
    args = ["slurm", "compare", "--go", "dna-repair", "--variants", "binary,embedding"]
    args += ["--seeds", "5", "--grid", "norm=batch,layer,none", "--array-parallel", "4"]
    args += ["--runs-dir", str(tmp_path), "--json"]
    res = run_cli(args, cli_env)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["tasks"] == 30 and out["job_id"] is None
    assert "#SBATCH --array=0-29%4\n" in open(out["script"]).read()
    # its speed (target <= 5 s) is measured in benchmarks/bench_slurm.py, not here


def test_sweep_run_is_idempotent(tmp_path) -> None:
    plan = plan_sweep(
        ["binary"], [0], "overfit", {}, RunSpec(fields={"go": "dna-repair", "epochs": 3})
    )
    job = write_array(plan, SlurmOptions(), runs_dir=tmp_path)
    first = run_point(job.sweep_dir, 0, quiet=True)
    again = run_point(job.sweep_dir, 0, quiet=True)
    assert again.run_dir == first.run_dir and again.summary == first.summary
    assert [s.state for s in sweep_status(job.sweep_dir)] == ["finished"]


def test_array_runs_on_slurm_and_collects(tmp_path, slurm, cli_env) -> None:
    env = slurm.env(cli_env)
    out = _submit(["compare", *SMALL, "--variants", "binary", "--seeds", "2", "--epochs", "5",
                   "--runs-dir", str(tmp_path)], env)  # fmt: skip
    sweep = Path(out["sweep_dir"])
    wait_for_queue(_job_name(sweep), env, timeout=120)
    runs = sorted(p for p in sweep.iterdir() if (p / "config.json").exists())
    assert len(runs) == 2, list(sweep.iterdir())
    for run_dir in runs:
        assert (run_dir / "summary.json").exists(), (sweep / "slurm-logs").glob("*")
        assert json.loads((run_dir / "env.json").read_text())["slurm"]["SLURM_JOB_ID"]
    status = run_cli(["sweep-status", str(sweep), "--json"], env)
    assert status.returncode == 0, status.stderr
    assert [s["state"] for s in json.loads(status.stdout)] == ["finished", "finished"]
    res = run_cli(["compare", "--collect", str(sweep), "-q"], env)
    assert res.returncode == 0, res.stderr
    with open(sweep / "summary.csv", newline="") as fh:
        (group,) = list(csv.DictReader(fh))
    assert group["variant"] == "binary" and group["n"] == "2"
    assert float(group["best_pearson_eval_bn_mean"]) > 0


def test_requeued_task_resumes_from_its_checkpoint(tmp_path, slurm, cli_env) -> None:
    env = slurm.env(cli_env)
    out = _submit(["overfit", *SMALL, "--epochs", "150", "--seed", "3", "--checkpoint-every", "1",
                   "--runs-dir", str(tmp_path)], env)  # fmt: skip
    sweep = Path(out["sweep_dir"])
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # requeue once it is well under way
        metrics = list(sweep.glob("*/metrics.csv"))
        if metrics and len(metrics[0].read_text().splitlines()) > 20:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the task did not start training in time")
    req = subprocess.run(["scontrol", "requeue", f"{out['job_id']}_0"], env=env,
                         capture_output=True, text=True)  # fmt: skip
    assert req.returncode == 0, req.stderr
    wait_for_queue(_job_name(sweep), env, timeout=120)
    (run_dir,) = [p for p in sweep.iterdir() if (p / "config.json").exists()]
    assert (run_dir / "summary.json").exists() and (run_dir / "weights-best.pt").exists()
    assert not (run_dir / LAST).exists()  # needed while requeued, gone once finished
    log = "".join(p.read_text() for p in (sweep / "slurm-logs").glob("*.out"))
    assert "restart 1" in log and "exit 143" in log, log
    m = re.search(r"resuming \S+ from epoch (\d+)", log)
    assert m and 20 <= int(m.group(1)) < 150, log
    # the uninterrupted run of the same point, in this process: the same metrics.csv
    plan = load_plan(sweep)
    reference = run(plan.config(plan.points()[0], tmp_path / "reference"))
    assert metrics_without_seconds(run_dir) == metrics_without_seconds(reference.run_dir)
