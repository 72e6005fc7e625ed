"""Generating a 30-task SLURM array: plan validation plus ``slurm.sbatch``, in-process and through
the CLI (what a user waits for), without submitting.

Prints JSON with ``library_s`` (median of 5), ``cli_s`` (one ``dcellx slurm compare`` process,
interpreter start and imports included) and ``tasks``. Target (2-core machine): <= 5 s.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("DCELLX_MIRROR", str((ROOT / "../shared/data").resolve()))
GRID = {"norm": ["batch", "layer", "none"]}


def main() -> dict:
    from dcellx.scale.slurm import SlurmOptions, write_array
    from dcellx.train.compare import RunSpec, plan_sweep

    spec = RunSpec(fields={"go": "2017", "epochs": 500, "keep_checkpoints": "none"})
    opts = SlurmOptions(time="04:00:00", cpus=2, mem="8G", array_parallel=8)
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(5):
            t0 = time.perf_counter()
            plan = plan_sweep(["binary", "embedding"], list(range(5)), "overfit", GRID, spec)
            job = write_array(plan, opts, runs_dir=tmp)
            times.append(time.perf_counter() - t0)
        args = ["slurm", "compare", "--go", "2017", "--variants", "binary,embedding"]
        args += ["--seeds", "5", "--grid", "norm=batch,layer,none", "--runs-dir", tmp, "--json"]
        t0 = time.perf_counter()
        res = subprocess.run(
            [sys.executable, "-c", "from dcellx_cli.main import main; main()", *args],
            cwd=ROOT, capture_output=True, text=True, check=True,
        )  # fmt: skip
        cli = time.perf_counter() - t0
    return {
        "tasks": job.points,
        "library_s": round(statistics.median(times), 4),
        "cli_s": round(cli, 3),
        "cli_tasks": json.loads(res.stdout)["tasks"],
    }


if __name__ == "__main__":
    print(json.dumps(main()))
