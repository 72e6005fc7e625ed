"""Genome-scale training and prediction: ``train`` and ``predict`` on 2 million simulated
genotypes, and ``dcellx bench`` for the same preset and batch, in one benchmark.

SYNTHETIC data: ``dcellx data simulate --n N --order 2`` (double mutants of the 4,111 ORFs
screened in Costanzo 2016, additive teacher, seed 0), written in the DCell format. Steps, each a
fresh process so that its peak RSS is its own:

1. ``simulate`` (skipped if the file is kept from an earlier run, ``--keep``);
2. ``warm``: the first read of the file, which fills the parsed-genotype cache;
3. ``train --go 2017 --preset P --batch-size B --max-steps S --score-sample M --threads T`` from
   that cache: seconds from launch to the first training step (the run records when it began
   its first step), samples/s after warm-up and the share of each step spent building its batch
   (``summary.json`` ``throughput``), and the run's wall time;
4. ``dcellx bench --go 2017 --preset P --batch-size B --threads T --no-reference``: the engine's
   samples/s on real DNA-repair genotypes, the figure train's rate is compared with;
5. ``predict``: the trained run over the first 4,096 genotypes (the model's memory and eval
   rate) and a small ``--go dna-repair`` run over all N (the data path's memory); a ``--go 2017``
   ``paper`` predict of all N takes hours at the eval rate measured here, so it is extrapolated.

    python benchmarks/bench_genome.py [--n 2000000] [--workdir DIR --keep]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# runs the dcellx CLI in this (child) process and prints its own peak RSS: a parent's ru_maxrss
# is inherited by its children on Linux, so the parent here stays small
_CHILD = r"""
import json, resource, sys, time
t0 = time.time()
from dcellx_cli.main import main
sys.argv = ["dcellx", *sys.argv[1:]]
try:
    main()
    rc = 0
except SystemExit as e:
    rc = e.code or 0
print("BENCH " + json.dumps({"rc": rc, "seconds": round(time.time() - t0, 2),
      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
"""


def cli(args: list[str], env: dict[str, str]) -> tuple[dict, str]:
    """(measurement, stdout) of one dcellx command in a fresh process."""
    launched = time.time()
    res = subprocess.run(
        [sys.executable, "-c", _CHILD, *args], env=env, cwd=ROOT, capture_output=True, text=True
    )
    lines = res.stdout.strip().splitlines()
    tail = [ln for ln in lines if ln.startswith("BENCH ")]
    if res.returncode != 0 or not tail or json.loads(tail[-1][6:])["rc"] != 0:
        raise SystemExit(
            f"dcellx {' '.join(args)} failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
        )
    out = json.loads(tail[-1][6:])
    out["launched_unix"] = launched
    return out, "\n".join(ln for ln in lines if not ln.startswith("BENCH "))


def _predict(args: argparse.Namespace, work: Path, data: Path, run_dir: Path, env: dict) -> dict:
    """``predict`` twice: the trained --go 2017 run over the first ``--predict-rows`` genotypes
    (its memory is the model's, its rate the engine's eval rate), and a small ``--go
    dna-repair`` run over all N (its memory is the data path's: store, encoding, chunks)."""
    head = work / f"head-{args.predict_rows}.txt"
    with open(data) as src, open(head, "w") as dst:
        dst.writelines(itertools.islice(src, args.predict_rows + 3))  # + the 3 header lines
    out = {}
    model, _ = cli(["predict", "--run", str(run_dir), "--data", str(head), "--out",
                    str(work / "pred-head.csv")], env)  # fmt: skip
    out["go2017_head"] = {"rows": args.predict_rows, **model}
    small = work / "runs-dna"
    shutil.rmtree(small, ignore_errors=True)
    cli(["train", "--go", "dna-repair", "--preset", args.preset, "--data", str(data),
         "--max-steps", "20", "--score-sample", "1000", "--runs-dir", str(small), "--quiet",
         "--threads", str(args.threads)], env)  # fmt: skip
    (dna_run,) = small.iterdir()
    full, _ = cli(["predict", "--run", str(dna_run), "--data", str(data), "--out",
                   str(work / "pred-all.csv")], env)  # fmt: skip
    out["dna_repair_all"] = {"rows": args.n, **full}
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2_000_000)
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--max-steps", type=int, default=200)
    ap.add_argument("--score-sample", type=int, default=20_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-predict", action="store_true")
    ap.add_argument("--predict-rows", type=int, default=4096)
    ap.add_argument("--bench-steps", type=int, default=20)
    ap.add_argument("--no-train", action="store_true", help="reuse the run of a kept workdir")
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the simulated file and the cache")
    args = ap.parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-genome-"))
    work.mkdir(parents=True, exist_ok=True)
    cache = work / "cache"
    env = {**os.environ, "DCELLX_CACHE": str(cache), "PYTHONWARNINGS": "ignore"}
    env.setdefault("DCELLX_OFFLINE", "1")
    env.setdefault("DCELLX_MIRROR", str(ROOT.parent / "shared" / "data"))
    data = work / f"simulated-{args.n}.txt"
    report: dict = {"n": args.n, "synthetic": True, "data": data.name}
    if not (args.keep and data.is_file()):
        sim, _ = cli(
            ["data", "simulate", "--out", str(data), "--n", str(args.n), "--order", "2"], env
        )
        report["simulate"] = sim
    shutil.rmtree(cache / "screens", ignore_errors=True)
    warm, _ = cli(["data", "inspect", str(data), "--json"], env)  # bypasses the cache: one read
    report["read"] = warm
    # fill the cache (and the compiled --go 2017) so that train starts from a cached screen
    prime = ["ontology", "stats", "--go", "2017"]
    cli(prime, env)
    fill = [sys.executable, "-c", "import sys; from dcellx.data.datasets import load_dataset; "
            "load_dataset(sys.argv[1])", str(data)]  # fmt: skip
    subprocess.run(fill, env=env, cwd=ROOT, check=True, capture_output=True)
    runs = work / "runs"
    if args.no_train:  # the run (and its figures) of an earlier benchmark in this workdir
        run_dir = next(p for p in runs.iterdir() if (p / "summary.json").is_file())
        report["train"] = json.loads((work / "train.json").read_text())
        return _finish(args, work, data, run_dir, env, report)
    shutil.rmtree(runs, ignore_errors=True)
    train_args = ["train", "--go", "2017", "--preset", args.preset, "--data", str(data)]
    train_args += ["--batch-size", str(args.batch_size), "--max-steps", str(args.max_steps)]
    train_args += ["--score-sample", str(args.score_sample), "--threads", str(args.threads)]
    train_args += ["--runs-dir", str(runs), "--quiet"]
    train, _ = cli(train_args, env)
    run_dir = next(p for p in runs.iterdir() if (p / "summary.json").is_file())
    summary = json.loads((run_dir / "summary.json").read_text())
    thr = summary.get("throughput", {})
    first = thr.get("first_step_unix")
    report["train"] = {
        "seconds": train["seconds"],
        "peak_rss_mb": train["peak_rss_mb"],
        "first_step_after_launch_s": None
        if first is None
        else round(first - train["launched_unix"], 2),
        "throughput": thr,
        "status": summary.get("status"),
        "steps": summary.get("steps"),
    }
    (work / "train.json").write_text(json.dumps(report["train"]))
    return _finish(args, work, data, run_dir, env, report)


def _finish(
    args: argparse.Namespace, work: Path, data: Path, run_dir: Path, env: dict, report: dict
) -> dict:
    bench, out = cli(
        ["bench", "--go", "2017", "--preset", args.preset, "--batch-size", str(args.batch_size),
         "--threads", str(args.threads), "--no-reference", "--json",
         "--steps", str(args.bench_steps)], env)  # fmt: skip
    engine = json.loads(out[out.index("{") :])
    report["bench"] = {"samples_per_s": engine.get("engine_samples_per_s"), "raw": engine}
    rate = report["train"]["throughput"].get("actual_samples_per_s")
    if rate and engine.get("engine_samples_per_s"):
        report["train_vs_bench"] = round(rate / engine["engine_samples_per_s"], 3)
    if not args.no_predict:
        report["predict"] = _predict(args, work, data, run_dir, env)
    if args.workdir is None and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
