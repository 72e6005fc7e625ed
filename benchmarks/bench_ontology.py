"""Foundation targets: cold compile of --go 2017, cached load, 256-genotype batch construction,
and the speeds the unit tests used to time themselves (tests assert behaviour, this measures).

Prints JSON with ``cold_compile_s``, ``cached_load_s``, ``batch_build_ms``, ``dcell_file_load_s``,
``ceiling_s``, ``simulate_100k_s``. Targets (2-core machine): cold <= 30 s, cached <= 1 s,
batch <= 2 ms, the real DNA-repair training file <= 0.5 s, the identifiability ceiling of its
8,783 genotypes on --go 2017 <= 1 s, 100,000 simulated triple mutants <= 5 s.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault(
    "DCELLX_MIRROR", str((Path(__file__).resolve().parents[1] / "../shared/data").resolve())
)


def _best(fn, repeats: int = 3) -> float:
    """Best of ``repeats`` wall times of ``fn()`` (seconds)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(go: str = "2017") -> dict:
    from dcellx.batch import encode_genotypes, make_batch
    from dcellx.data.datasets import load_dataset
    from dcellx.data.genotypes import read_dcell_genotypes
    from dcellx.data.simulate import simulate_genotypes
    from dcellx.diagnose.ceiling import identifiability_ceiling
    from dcellx.ontology.build import load_ontology

    with tempfile.TemporaryDirectory() as cache:
        os.environ["DCELLX_CACHE"] = cache
        t0 = time.perf_counter()
        onto = load_ontology(go)  # cold: parse OBO + GAF, filter, compile, write cache
        cold = time.perf_counter() - t0
        loads = []
        for _ in range(5):
            t0 = time.perf_counter()
            load_ontology(go)
            loads.append(time.perf_counter() - t0)
    enc = encode_genotypes(load_dataset("dcell-dna-repair")["train"], onto)
    rng = np.random.default_rng(0)
    times = []
    for _ in range(200):
        rows = rng.choice(len(enc), 256, replace=False)
        t0 = time.perf_counter()
        make_batch(enc, rows)
        times.append(time.perf_counter() - t0)
    train = load_dataset("dcell-dna-repair")["train"]
    file_load = _best(lambda: read_dcell_genotypes(train.source))
    ceiling = _best(lambda: identifiability_ceiling(train, onto))
    simulate = _best(lambda: simulate_genotypes(order=3, n=100_000, seed=0))
    return {
        "go": go,
        "dcell_file_load_s": round(file_load, 3),
        "ceiling_s": round(ceiling, 3),
        "simulate_100k_s": round(simulate, 3),
        "cold_compile_s": round(cold, 3),
        "cached_load_s": round(float(np.median(loads)), 4),
        "batch_build_ms": round(1000 * float(np.median(times)), 4),
        "terms": onto.num_terms,
        "genes": onto.num_genes,
    }


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
