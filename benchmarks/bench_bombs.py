"""Peak memory of hostile inputs at their real sizes, with the default input limits (issue 27).

Each case writes a bomb, runs the real CLI on it in a fresh process and records that process's
peak RSS, its exit code, its wall time and the length of what it printed on stderr. Before the
input limits (``dcellx.io.inputs``) the 200 KB gzip took 5 GB and printed 838 MB, the 1 MB zips
took 3.5-4.4 GB and ended in MemoryError tracebacks. The target: every case one ``error:`` line,
exit 2, peak RSS under 1 GB. Not a timed test: figures for benchmarks/README.md.

    python benchmarks/bench_bombs.py [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = (ROOT / "../shared/data").resolve()
MIB = 1 << 20
TARGET_MB = 1024

# The CLI in this process, then its own peak RSS (KiB on Linux) on the last line of stdout.
RUN = """
import resource, sys
from dcellx_cli.main import main
sys.argv = ["dcellx", *sys.argv[1:]]
try:
    main()
    code = 0
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 1
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, flush=True)
sys.exit(code)
"""


def gzip_of(path: Path, block: bytes, size: int, head: bytes = b"") -> Path:
    """``head``, then ``size`` bytes of ``block`` repeated, gzipped a block at a time (never
    held whole)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as fh:
        fh.write(comp.compress(head))
        for _ in range(size // len(block)):
            fh.write(comp.compress(block))
        fh.write(comp.flush())
    return path


def zip_of(path: Path, member: str, block: bytes, size: int, head: bytes = b"") -> Path:
    """``head``, then ``size`` bytes of ``block`` repeated, in a zip member (a block at a time)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open(member, "w", force_zip64=True) as fh:
            fh.write(head)
            for _ in range(size // len(block)):
                fh.write(block)
    return path


def long_token(path: Path, size: int) -> Path:
    path.write_bytes(b"x" * size + b" YLR035C YML060W 0.1\n")
    return path


Case = tuple[str, Callable[[Path], Path], list[str]]
NUL, NL = b"\0" * MIB, b"\n" * MIB
HEADER = (
    "Query Strain ID\tQuery allele name\tArray Strain ID\tArray allele name\tArraytype/Temp\t"
    "Genetic interaction score (\u03b5)\tP-value\tDouble mutant fitness\n"
).encode()
CASES: list[Case] = [
    (
        "gzip, 200 MB of NULs (200 KB) as --data",
        lambda d: gzip_of(d / "nuls.txt.gz", NUL, 200 * MIB),
        ["overfit", "--go", "dna-repair", "--threads", "1", "-q", "--data"],
    ),
    (
        "gzip, 200 MB of NULs (200 KB) as --obo",
        lambda d: gzip_of(d / "nuls.obo.gz", NUL, 200 * MIB),
        ["ontology", "stats", "--go", "dna-repair", "--obo"],
    ),
    (
        "zip, 1 GiB of NULs (1 MB) as --data",
        lambda d: zip_of(d / "nuls.zip", "SGA_ExE.txt", NUL, 1024 * MIB),
        ["overfit", "--go", "dna-repair", "--threads", "1", "-q", "--data"],
    ),
    (
        "zip, 1 GiB of newlines (1 MB) as --data",
        lambda d: zip_of(d / "newlines.zip", "SGA_ExE.txt", NL, 1024 * MIB),
        ["overfit", "--go", "dna-repair", "--threads", "1", "-q", "--data"],
    ),
    (
        "zip, a screen header then 1 GiB of newlines",
        lambda d: zip_of(d / "header.zip", "SGA_ExE.txt", NL, 1024 * MIB, HEADER),
        ["overfit", "--go", "dna-repair", "--threads", "1", "-q", "--data"],
    ),
    (
        "gzip, a genotype line then 1 GiB of newlines",
        lambda d: gzip_of(d / "genotypes.txt.gz", NL, 1024 * MIB, b"2 YLR035C YML060W 0.1\n"),
        ["overfit", "--go", "dna-repair", "--threads", "1", "-q", "--data"],
    ),
    (
        "gzip, 1 GiB of newlines (1 MB) as --obo",
        lambda d: gzip_of(d / "newlines.obo.gz", NL, 1024 * MIB),
        ["ontology", "stats", "--go", "dna-repair", "--obo"],
    ),
    (
        "plain, a 20 MB token as --data",
        lambda d: long_token(d / "token.txt", 20 * MIB),
        ["overfit", "--go", "dna-repair", "--threads", "1", "-q", "--data"],
    ),
]


def run_case(name: str, make: Callable[[Path], Path], args: list[str], work: Path) -> dict:
    bomb = make(work)
    size = bomb.stat().st_size
    env = {**os.environ, "PYTHONPATH": str(ROOT), "DCELLX_CACHE": str(work / "cache")}
    env.setdefault("DCELLX_MIRROR", str(DATA))
    env.setdefault("OMP_NUM_THREADS", "1")
    t0 = time.perf_counter()
    runs = ["--runs-dir", str(work / "runs")] if args[0] == "overfit" else []
    done = subprocess.run(
        [sys.executable, "-c", RUN, *args, str(bomb), *runs],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
    )
    seconds = time.perf_counter() - t0
    peak_kib = int(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else -1
    lines = done.stderr.strip().splitlines()
    bomb.unlink()
    return {
        "case": name,
        "bomb_bytes": size,
        "exit": done.returncode,
        "peak_rss_mb": round(peak_kib / 1024, 1),
        "seconds": round(seconds, 2),
        "stderr_bytes": len(done.stderr),
        "stderr_lines": len(lines),
        "first_line": (lines[0][:160] if lines else ""),
        "under_target": 0 < peak_kib / 1024 < TARGET_MB,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    opts = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, make, args in CASES:
            results.append(run_case(name, make, args, Path(tmp)))
            r = results[-1]
            print(
                f"{r['case']:<42} {r['bomb_bytes']:>9} B  exit {r['exit']}  "
                f"peak {r['peak_rss_mb']:>7.1f} MB  "
                f"{r['seconds']:>6.2f} s  stderr {r['stderr_bytes']} B / {r['stderr_lines']} line"
                f"  {'ok' if r['under_target'] else 'OVER ' + str(TARGET_MB) + ' MB'}",
                flush=True,
            )
            print(f"    {r['first_line']}", flush=True)
    if opts.json:
        print(json.dumps(results, indent=1))
    bad = [r for r in results if not r["under_target"] or r["exit"] != 2 or r["stderr_lines"] != 1]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
