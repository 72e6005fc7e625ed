"""OBO reader: dcellx's line reader (``read_obo``) against pronto (``read_obo_pronto``).

Reads the real 2019 and 2024 GO releases (full go.obo, gzip) with each reader, best of 3, each
reader and file in a fresh process so that its peak RSS is its own. Prints a table, then JSON with
per run ``seconds`` (best of 3), ``peak_rss_mb`` (the process's peak) and ``rss_over_import_mb``
(peak minus the RSS after imports), plus the speed-up. Not a target: figures for the README.

    python benchmarks/bench_obo.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = (ROOT / "../shared/data").resolve()
os.environ.setdefault("DCELLX_MIRROR", str(DATA))
FILES = {"2019": DATA / "go/go-2019-01-27.obo.gz", "2024": DATA / "go/go-2024-09-08.obo.gz"}
READERS = ("dcellx", "pronto")


def _rss_mb() -> float:
    """Peak RSS of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one(reader: str, path: Path, repeat: int) -> dict:
    """Time one reader on one file in this process (run it in a fresh one)."""
    if reader == "dcellx":
        from dcellx.ontology.obo import read_obo as read
    else:
        from tests.ontology.obo_pronto import read_obo_pronto as read
    base = _rss_mb()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        rel = read(path)
        times.append(time.perf_counter() - t0)
        del rel
    peak = _rss_mb()
    rel = read(path)  # counts, to show both readers read the same release
    return {
        "reader": reader,
        "file": path.name,
        "seconds": round(min(times), 3),
        "peak_rss_mb": round(peak),
        "rss_over_import_mb": round(peak - base),
        "live_terms": len(rel.names),
        "is_a": rel.edge_counts().get("is_a", 0),
    }


def main(repeat: int = 3) -> dict:
    runs = []
    for label, path in FILES.items():
        for reader in READERS:
            cmd = [sys.executable, __file__, "--one", reader, str(path), "--repeat", str(repeat)]
            env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
            out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
            runs.append({"release": label, **json.loads(out.stdout)})
    speedup = {}
    for label in FILES:
        t = {r["reader"]: r["seconds"] for r in runs if r["release"] == label}
        speedup[label] = round(t["pronto"] / t["dcellx"], 2)
    return {"repeat": repeat, "runs": runs, "speedup_dcellx_over_pronto": speedup}


def table(result: dict) -> str:
    head = "| release | reader | seconds (best of {}) | peak RSS MB | over import MB |"
    lines = [head.format(result["repeat"]), "|---|---|---|---|---|"]
    for r in result["runs"]:
        lines.append(
            f"| {r['release']} | {r['reader']} | {r['seconds']:.2f} | {r['peak_rss_mb']} "
            f"| {r['rss_over_import_mb']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--one", nargs=2, metavar=("READER", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], Path(args.one[1]), args.repeat)))
    else:
        res = main(args.repeat)
        print(table(res), file=sys.stderr)
        print(json.dumps(res, indent=2))
