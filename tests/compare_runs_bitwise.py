"""Rerun a fixed set of short overfit runs and compare them bitwise with a recorded baseline.

A refactoring that should leave behaviour unchanged is checked by recording the runs before it and
comparing after it, which no single pytest test can do (the baseline comes from an older tree), so
this is a script run by hand rather than a test; it lives under tests/ because it is test-only code.

    python tests/compare_runs_bitwise.py record /tmp/before    # on the old tree
    python tests/compare_runs_bitwise.py compare /tmp/before   # on the new tree; exit 1: unequal

Each configuration runs ``dcellx overfit --threads 1 --keep-checkpoints last`` into
``<dir>/<name>/``. Compared: every column of ``metrics.csv`` except ``seconds`` (the text as
written, so floats compare to the last bit) and every tensor of ``weights-best.pt`` and
``checkpoint-last.pt`` (model, optimiser and any other state: dtype, shape and bytes); the
other entries of those files compare with ``==``, except the few in ``NOT_COMPARED``. Needs
DCELLX_MIRROR (the offline data).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

DCELLX = Path(sys.executable).with_name("dcellx")
COMMON = ["--go", "dna-repair", "--epochs", "15", "--threads", "1", "--keep-checkpoints", "last"]
# the three configurations of the check, then the remaining gene inputs (one per gene-input kind)
RUNS: dict[str, list[str]] = {
    "paper": ["--preset", "paper"],
    "dcell-new-guard": ["--preset", "dcell-new", "--deletion-rule", "torchcell-index-guard"],
    "embedding-pooled": ["--preset", "paper", "--variant", "embedding-pooled"],
    "embedding": ["--preset", "paper", "--variant", "embedding"],
    "embedding-deepset": ["--preset", "paper", "--variant", "embedding-deepset"],
    "embedding-attention": ["--preset", "paper", "--variant", "embedding-attention"],
    "lua-masked-layer": ["--preset", "lua"],
    "lua-released-dense-layer": ["--preset", "lua-released"],
}
WEIGHT_FILES = ("weights-best.pt", "checkpoint-last.pt")
# entries that differ between two runs of the same tree: the folder the run was written to, the
# wall clock, and the process-global torch generator (seeded differently in every process; no
# draw of a run comes from it: initialisation and data order use their own seeded generators)
NOT_COMPARED = ("/config/runs_dir", "/loop/elapsed", "/rng/")


def record(out: Path) -> None:
    """Run every configuration into ``out/<name>/``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for name, args in RUNS.items():
        runs_dir = out / name
        if runs_dir.exists():
            raise SystemExit(f"{runs_dir}: exists; give an empty folder")
        cmd = [str(DCELLX), "overfit", *COMMON, *args, "--runs-dir", str(runs_dir), "-q"]
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)


def run_dir(runs_dir: Path) -> Path:
    """The one run directory under ``runs_dir``."""
    found = [p for p in runs_dir.iterdir() if (p / "metrics.csv").is_file()]
    if len(found) != 1:
        raise SystemExit(f"{runs_dir}: expected one run directory, found {len(found)}")
    return found[0]


def metrics_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def tensor_leaves(obj: object, where: str = "") -> dict[str, object]:
    """Every leaf of nested dicts / lists / tuples by its path."""
    if isinstance(obj, dict):
        out: dict[str, object] = {}
        for k, v in obj.items():
            out.update(tensor_leaves(v, f"{where}/{k}"))
        return out
    if isinstance(obj, list | tuple):
        out = {}
        for i, v in enumerate(obj):
            out.update(tensor_leaves(v, f"{where}[{i}]"))
        return out
    return {where: obj}


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    a, b = a.detach().contiguous().reshape(-1), b.detach().contiguous().reshape(-1)
    return torch.equal(a.view(torch.uint8), b.view(torch.uint8))


def compare(base: Path, new: Path) -> tuple[list[str], int, int]:
    """(differences, metrics values compared, tensors compared)."""
    problems: list[str] = []
    n_values = n_tensors = 0
    for name in RUNS:
        a, b = run_dir(base / name), run_dir(new / name)
        ra, rb = metrics_rows(a / "metrics.csv"), metrics_rows(b / "metrics.csv")
        if ra != rb:
            problems.append(f"{name}: metrics.csv differs")
        n_values += sum(len(r) for r in ra)
        for fname in WEIGHT_FILES:
            la = tensor_leaves(torch.load(a / fname, weights_only=False))
            lb = tensor_leaves(torch.load(b / fname, weights_only=False))
            if la.keys() != lb.keys():
                problems.append(f"{name}/{fname}: keys differ: {sorted(la.keys() ^ lb.keys())[:5]}")
            for key in sorted(la.keys() & lb.keys()):
                if any(key.startswith(p) for p in NOT_COMPARED):
                    continue
                x, y = la[key], lb[key]
                if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor):
                    n_tensors += 1
                    if not same_bits(x, y):
                        problems.append(f"{name}/{fname}{key}: tensor differs")
                elif x != y:
                    problems.append(f"{name}/{fname}{key}: {x!r} != {y!r}")
    return problems, n_values, n_tensors


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("record", "compare"):
        print(__doc__)
        return 2
    if argv[0] == "record":
        record(Path(argv[1]))
        return 0
    with tempfile.TemporaryDirectory(prefix="dcellx-bitwise-") as tmp:
        record(Path(tmp))
        problems, n_values, n_tensors = compare(Path(argv[1]), Path(tmp))
    for p in problems:
        print(p)
    print(
        f"{len(RUNS)} runs, {n_values} metrics.csv values (all columns but seconds), "
        f"{n_tensors} tensors in {' and '.join(WEIGHT_FILES)}: "
        + ("bitwise equal" if not problems else f"{len(problems)} difference(s)")
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
