"""Screen reading at scale: read + filter + merge of Costanzo 2016 / Kuzmin 2018 files, and the
parsed-screen cache (``dcellx.data.screen_cache``).

Generates one file per screen in the published column layout (header names and column order as
released; see ``tests/data/test_screens.py``) with ``--rows`` measurement rows: ``distinct``
gene sets (``rows / (1 + duplicate_rate)``), the rest repeats of them (Costanzo: half with query
and array swapped, as A×B / B×A), the strains' allele types drawn from ``--allele-mix``; Kuzmin
rows half digenic (gene + hoΔ query), half trigenic. Each measurement runs in a fresh process
(so its peak RSS is its own): ``read`` is ``load_screen(cache=False)`` through ``inspect_file``;
``cache_build`` the first ``load_screen`` with an empty cache (sha256, parse, write);
``cached_load`` the second. Prints JSON; not a target, figures for benchmarks/README.md.

    OMP_NUM_THREADS=1 python benchmarks/bench_screens.py [--rows 1000000] [--screens costanzo2016]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCREENS = ("costanzo2016", "kuzmin2018")
ALLELES = ("deletion", "ts", "damp")
COSTANZO_HEADER = (
    "Query Strain ID\tQuery allele name\tArray Strain ID\tArray allele name\tArraytype/Temp\t"
    "Genetic interaction score (ε)\tP-value\tQuery single mutant fitness (SMF)\tArray SMF\t"
    "Double mutant fitness\tDouble mutant fitness standard deviation"
)
KUZMIN_HEADER = (
    "Query strain ID\tQuery allele name\tArray strain ID\tArray allele name\tCombined mutant type\t"
    "Raw genetic interaction score (epsilon)\tAdjusted genetic interaction score (epsilon or tau)\t"
    "P-value\tQuery single/double mutant fitness\tArray single mutant fitness\t"
    "Combined mutant fitness\tCombined mutant fitness standard deviation"
)
QUERY_SUFFIX = {"deletion": "sn", "ts": "tsq", "damp": "damp"}
ARRAY_SUFFIX = {"deletion": "dma", "ts": "tsa", "damp": "damp"}
ARRAY_TYPE = {"deletion": ("DMA30", "DMA26"), "ts": ("TSA26", "TSA30"), "damp": ("DMA30",)}


def _orfs(n: int) -> list[str]:
    """``n`` distinct names matching ``ORF_PATTERN`` (Y + chromosome A-P + arm + 3 digits + W/C)."""
    out = [f"Y{c}{arm}{i:03d}{s}" for c in "ABCDEFGHIJKLMNOP" for arm in "LR" for s in "WC"
           for i in range(1, 400)]  # fmt: skip
    return out[:n]


def _allele(orf: str, kind: str) -> str:
    name = orf.lower()
    return {"deletion": name + "Δ", "ts": name + "-1", "damp": name + "-damp"}[kind]


def _distinct_sets(rng: np.random.Generator, n: int, n_query: int, n_array: int) -> np.ndarray:
    """``n`` distinct (query index, array index) pairs, in random order."""
    out = np.empty((0, 2), dtype=np.int64)
    while len(out) < n:
        draw = rng.integers(0, [n_query, n_array], size=(2 * (n - len(out)) + 16, 2))
        both = np.concatenate([out, draw])
        _, first = np.unique(both[:, 0] * n_array + both[:, 1], return_index=True)
        out = both[np.sort(first)]
    return out[:n]


def generate(
    screen: str, path: Path, rows: int, duplicate_rate: float, mix: dict[str, float], seed: int
) -> dict:
    """Write ``rows`` rows of ``screen`` to ``path``; returns the recorded parameters.

    Costanzo: every gene is a query and an array strain (one strain id each). Kuzmin: 1,500
    query strains (750 ``gene+hoΔ`` digenic, 750 double-deletion trigenic) x every array gene.
    """
    rng = np.random.default_rng(seed)
    distinct = max(1, round(rows / (1 + duplicate_rate)))
    orfs = _orfs(6000)
    kinds = rng.choice(len(ALLELES), size=len(orfs), p=[mix[a] for a in ALLELES])
    strain = [(o, ALLELES[k]) for o, k in zip(orfs, kinds, strict=True)]
    if screen == "costanzo2016":
        n_query = len(orfs)
    else:
        queries = rng.choice(len(orfs), size=(1500, 2), replace=False)
        n_query = len(queries)
    sets = _distinct_sets(rng, distinct, n_query, len(orfs))
    order = np.concatenate([np.arange(distinct), rng.integers(0, distinct, rows - distinct)])
    swap = np.concatenate([np.zeros(distinct, bool), rng.random(rows - distinct) < 0.5])
    perm = rng.permutation(rows)
    order, swap = order[perm], swap[perm]
    eps = np.round(rng.normal(0, 0.08, rows), 4).tolist()
    pval = np.round(rng.random(rows), 4).tolist()
    fit = np.round(rng.uniform(0.3, 1.1, (rows, 4)), 4).tolist()
    fh = open(path, "w", encoding="utf-8")  # noqa: SIM115 (written in chunks, closed below)
    lines = [COSTANZO_HEADER if screen == "costanzo2016" else KUZMIN_HEADER]
    for r, g in enumerate(order.tolist()):
        if len(lines) >= 100_000:
            fh.write("\n".join(lines) + "\n")
            lines.clear()
        q, a = sets[g].tolist()
        f = fit[r]
        if screen == "costanzo2016":
            if swap[r]:
                q, a = a, q
            if q == a:  # a gene against itself: the reader skips such rows, so avoid them
                a = (a + 1) % len(orfs)
            (qo, qk), (ao, ak) = strain[q], strain[a]
            at = ARRAY_TYPE[ak][r % len(ARRAY_TYPE[ak])]
            lines.append(
                f"{qo}_{QUERY_SUFFIX[qk]}{q}\t{_allele(qo, qk)}\t{ao}_{ARRAY_SUFFIX[ak]}{a}\t"
                f"{_allele(ao, ak)}\t{at}\t{eps[r]}\t{pval[r]}\t{f[0]}\t{f[1]}\t{f[2]}\t{f[3]}"
            )
            continue
        g1, g2 = queries[q].tolist()
        tri = q >= 750
        if a in (g1, g2):
            a = (a + 1) % len(orfs)
            a = (a + 1) % len(orfs) if a in (g1, g2) else a
        q1, q2 = orfs[g1], orfs[g2]
        ao, ak = strain[a]
        query = f"{q1}+{q2 if tri else 'YDL227C'}_tm{q}"
        qallele = f"{q1.lower()}Δ+{q2.lower() + 'Δ' if tri else 'hoΔ'}"
        tau = round(eps[r] * 0.9, 4) if tri else eps[r]
        lines.append(
            f"{query}\t{qallele}\t{ao}_{ARRAY_SUFFIX[ak]}{a}\t{_allele(ao, ak)}\t"
            f"{'trigenic' if tri else 'digenic'}\t{eps[r]}\t{tau}\t{pval[r]}\t"
            f"{f[0]}\t{f[1]}\t{f[2]}\t{f[3]}"
        )
    fh.write("\n".join(lines) + "\n")
    fh.close()
    return {
        "rows": rows,
        "distinct_genotypes_planned": distinct,
        "duplicate_rate": duplicate_rate,
        "allele_mix": mix,
        "genes_in_pool": len(orfs),
        "query_strains": n_query,
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "seed": seed,
    }


# -- one measurement, run in a fresh process --------------------------------------------------
_CHILD = r"""
import json, resource, sys, time
t_import = time.perf_counter()
from dcellx.data.inspect import inspect_file
from dcellx.data.screens import ScreenStats, load_screen
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
mode, path = sys.argv[1], sys.argv[2]
if mode == "read":
    out = inspect_file(path)
else:
    stats = ScreenStats()
    t0 = time.perf_counter()
    ds = load_screen(path, stats=stats)
    out = {"seconds": round(time.perf_counter() - t0, 4), "cached": stats.cached,
           "genotypes": len(ds), "k_max": ds.codes.shape[1],
           "store_bytes_per_genotype": round((ds.codes.nbytes + ds.counts.nbytes) / len(ds), 2),
           "meta_bytes_per_genotype": round(
               sum(c.nbytes for c, _ in (ds.meta_codes or {}).values()) / len(ds), 2)}
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
out["rss_after_import_mb"] = round(base, 1)
print(json.dumps(out))
"""


def measure(mode: str, path: Path, cache: Path) -> dict:
    env = {**os.environ, "DCELLX_CACHE": str(cache), "PYTHONWARNINGS": "ignore"}
    env.setdefault("OMP_NUM_THREADS", "1")
    res = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, str(path)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if res.returncode != 0:
        raise SystemExit(f"{mode} {path} failed:\n{res.stderr}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def generate_elsewhere(screen: str, path: Path, args: argparse.Namespace) -> dict:
    """``generate`` in a child process: a child's ``ru_maxrss`` starts from its parent's peak
    (Linux keeps the high-water mark across fork and exec), so this process must stay small."""
    mix = ",".join(map(str, args.allele_mix))
    cmd = [sys.executable, __file__, "--generate", screen, str(path), str(args.rows)]
    cmd += [str(args.duplicate_rate), mix, str(args.seed)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"generating {path} failed:\n{res.stderr}")
    return json.loads(res.stdout)


def run_screen(screen: str, args: argparse.Namespace, work: Path) -> dict:
    path = work / f"{screen}-{args.rows}-{args.duplicate_rate}-{args.seed}.tsv"
    recorded = path.with_suffix(".json")
    if args.keep and path.is_file() and recorded.is_file():  # --keep: generated once, reused
        params = json.loads(recorded.read_text())
    else:
        t0 = time.perf_counter()
        params = generate_elsewhere(screen, path, args)
        params["generate_s"] = round(time.perf_counter() - t0, 1)
        recorded.write_text(json.dumps(params))
    cache = work / f"cache-{screen}"
    shutil.rmtree(cache, ignore_errors=True)
    read = measure("read", path, cache)
    build = measure("load", path, cache)
    cached = measure("load", path, cache)
    assert not build["cached"] and cached["cached"], (build, cached)
    assert build["genotypes"] == cached["genotypes"] == read["genotypes"]
    entry = sum(p.stat().st_size for p in (cache / "screens").glob("*.npz"))
    if not args.keep:
        path.unlink()
        recorded.unlink()
        shutil.rmtree(cache, ignore_errors=True)
    rows_per_s = args.rows / read["seconds"]
    return {
        "screen": screen,
        "params": params,
        "read": {k: read[k] for k in ("rows", "kept", "measurements", "genotypes", "genes")}
        | {
            "seconds": read["seconds"],
            "rows_per_s": round(rows_per_s),
            "peak_rss_mb": read["peak_rss_mb"],
            "rss_after_import_mb": read["rss_after_import_mb"],
        },
        "store": {
            k: build[k] for k in ("k_max", "store_bytes_per_genotype", "meta_bytes_per_genotype")
        },
        "cache_build": {k: build[k] for k in ("seconds", "peak_rss_mb")},
        "cached_load": {k: cached[k] for k in ("seconds", "peak_rss_mb")},
        "cache_entry_mb": round(entry / 1e6, 1),
        "extrapolated_20M_rows": {
            "read_s": round(20e6 / rows_per_s),
            "peak_rss_mb": round(
                read["rss_after_import_mb"]
                + (read["peak_rss_mb"] - read["rss_after_import_mb"]) * 20e6 / args.rows
            ),
        },
    }


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--generate"]:  # the child of generate_elsewhere
        screen, path, rows, dup, mix, seed = argv[1:]
        alleles = dict(zip(ALLELES, map(float, mix.split(",")), strict=True))
        params = generate(screen, Path(path), int(rows), float(dup), alleles, int(seed))
        print(json.dumps(params))
        return params
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--screens", nargs="+", choices=SCREENS, default=list(SCREENS))
    ap.add_argument("--duplicate-rate", type=float, default=0.3)
    ap.add_argument(
        "--allele-mix", type=float, nargs=3, default=[0.75, 0.2, 0.05], help="deletion ts damp"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path, default=None, help="where files go (default: a temp)")
    ap.add_argument("--keep", action="store_true", help="keep the generated files and caches")
    args = ap.parse_args(argv)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-screens-"))
    work.mkdir(parents=True, exist_ok=True)
    results = [run_screen(s, args, work) for s in args.screens]
    if args.workdir is None and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = {"omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "results": results}
    report["parent_peak_rss_mb"] = round(own)  # a floor under every child's peak: keep it small
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return report


if __name__ == "__main__":
    main()
