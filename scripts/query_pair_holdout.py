"""Split a simulated trigenic-SGA screen by query pair: train and test files for `dcellx train`.

In the Kuzmin 2018 design a record is (query gene a, query gene b, array gene c) and records come
in blocks of one query pair. Holding out whole query pairs asks what a model predicts for a query
double mutant it never saw crossed with any array gene: the question a user screening a new query
pair has. The simulated screen's query genes belong to one pair each, so a held-out pair's two
query genes are unseen in training while its array genes are seen.

    python scripts/query_pair_holdout.py SCREEN OUT_DIR --train-pairs 12 --test-pairs 4 \
        --records 200 --seed 0

writes OUT_DIR/train.txt and OUT_DIR/test.txt (the screen's header, marked SYNTHETIC, plus one
line naming the split), ``--records`` records of each chosen pair (its first ones, the array
genes in plate order). Refuses to overwrite either file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def read_blocks(path: Path) -> tuple[list[str], dict[tuple[str, str], list[str]]]:
    """(header lines, records per query pair in file order) of a `trigenic-sga` screen file."""
    header: list[str] = []
    blocks: dict[tuple[str, str], list[str]] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("#"):
            header.append(line)
            continue
        fields = line.split()
        if len(fields) != 5 or fields[0] != "3":
            sys.exit(f"{path}:{n}: not a trigenic record ('3 query_a query_b array tau')")
        blocks.setdefault((fields[1], fields[2]), []).append(line)
    if not any("SYNTHETIC" in h for h in header):
        sys.exit(f"{path}: not a simulated screen (no SYNTHETIC header line)")
    return header, blocks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("screen", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--train-pairs", type=int, default=12)
    ap.add_argument("--test-pairs", type=int, default=4)
    ap.add_argument("--records", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    header, blocks = read_blocks(a.screen)
    pairs = list(blocks)
    if a.train_pairs + a.test_pairs > len(pairs):
        sys.exit(f"{a.screen}: {len(pairs)} query pairs, {a.train_pairs + a.test_pairs} asked for")
    order = np.random.default_rng(a.seed).permutation(len(pairs))
    chosen = {
        "train": [pairs[i] for i in order[: a.train_pairs]],
        "test": [pairs[i] for i in order[a.train_pairs : a.train_pairs + a.test_pairs]],
    }
    a.out.mkdir(parents=True, exist_ok=True)
    for part, qp in chosen.items():
        path = a.out / f"{part}.txt"
        if path.exists():
            sys.exit(f"{path}: exists; choose another OUT_DIR")
        names = " ".join(f"{x}+{y}" for x, y in qp)
        lines = [*header, f"# query-pair hold-out (seed {a.seed}), {part} query pairs: {names}"]
        lines += [rec for p in qp for rec in blocks[p][: a.records]]
        path.write_text("\n".join(lines) + "\n")
        print(f"{path}: {len(qp)} query pairs, {len(lines) - len(header) - 1} records")


if __name__ == "__main__":
    main()
