"""DDP overhead on CPU: the same overfit run as 1 process x 1 thread, 1 process x 2 threads and
2 gloo processes x 1 thread (``torchrun``, ``--ddp --sync-bn``). Not a target: on a 2-core machine
the question is only what the collectives cost.

    python benchmarks/bench_ddp.py [--go dna-repair|2017] [--epochs N] [--batch-size B]

Prints JSON: seconds per epoch (training loop only, from summary.json) per configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("DCELLX_MIRROR", str((ROOT / "../shared/data").resolve()))
CLI = ["-c", "from dcellx_cli.main import main; main()"]


def _run(prefix: list[str], args: list[str], runs: Path) -> float:
    subprocess.run([*prefix, *args, "--runs-dir", str(runs), "-q"], cwd=ROOT, check=True,
                   capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    (summary,) = runs.glob("*/summary.json")
    return json.loads(summary.read_text())["seconds_per_epoch"]


def main(go: str, epochs: int, batch_size: int) -> dict:
    base = ["overfit", "--go", go, "--epochs", str(epochs), "--batch-size", str(batch_size)]
    base += ["--keep-checkpoints", "none"]
    out: dict = {"go": go, "epochs": epochs, "batch_size": batch_size}
    with tempfile.TemporaryDirectory() as tmp:
        launcher = Path(tmp) / "dcellx_main.py"
        launcher.write_text("from dcellx_cli.main import main\n\nmain()\n")
        py = [sys.executable, *CLI]
        out["one_process_1_thread_s"] = _run(py, [*base, "--threads", "1"], Path(tmp, "a"))
        out["one_process_2_threads_s"] = _run(py, [*base, "--threads", "2"], Path(tmp, "b"))
        torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        torchrun += ["--nproc-per-node", "2", str(launcher)]
        ddp = [*base, "--threads", "1", "--ddp", "--sync-bn"]
        out["two_processes_1_thread_s"] = _run(torchrun, ddp, Path(tmp, "c"))
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--go", default="dna-repair")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--batch-size", type=int, default=32)
    a = ap.parse_args()
    print(json.dumps(main(a.go, a.epochs, a.batch_size)))
