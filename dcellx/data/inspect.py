"""What reading a genotype file gives (``dcellx data inspect``): rows read, rows kept by each
filter, distinct genotypes, genes, genes an ontology does not know, seconds and peak memory."""

from __future__ import annotations

import resource
import time
from pathlib import Path

from dcellx.data.formats import get_format, sniff_format
from dcellx.data.screens import ScreenStats, load_screen
from dcellx.io import registry


def peak_rss_mb() -> float:
    """This process's peak resident set so far, in MB (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _plain(value: object) -> object:
    """A filter value as JSON has it (a list for a set or tuple of names)."""
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    return list(value)  # type: ignore[call-overload]


def inspect_file(
    path_or_name: str | Path,
    format: str = "auto",
    *,
    phenotype: str | None = None,
    go: str | None = None,
    cache: bool = False,
    **filters: object,
) -> dict[str, object]:
    """Read ``path_or_name`` as ``load_screen`` does and report on it (a JSON-ready dict).

    Keys: ``file``, ``format``, ``phenotype``, ``rows`` (data rows read), ``kept`` (filter ->
    rows left after it, in the order applied), ``skipped`` (reason -> rows), ``measurements``,
    ``genotypes`` (distinct gene sets after merging), ``genes``, ``max_genes_per_genotype``,
    ``cached``, ``seconds`` (the read alone), ``peak_rss_mb`` (the process's peak, right after the
    read) and, with ``go``, ``go``, ``unknown_genes`` (count) and ``unknown_gene_list``. The cache
    is bypassed unless ``cache``, so that seconds and memory measure the read.
    """
    path = registry.resolve(path_or_name)
    fmt = sniff_format(path) if format == "auto" else format
    stats = ScreenStats()
    t0 = time.perf_counter()
    ds = load_screen(path, fmt, phenotype, cache=cache, stats=stats, **filters)
    seconds = time.perf_counter() - t0
    rss = peak_rss_mb()
    genes = set(ds.gene_names())  # from the store's codes: no name tuples are built
    report: dict[str, object] = {
        "file": str(path),
        "format": fmt,
        "phenotype": ds.phenotypes[0] if len(ds.phenotypes) == 1 else ds.phenotypes,
        "filters": {k: _plain(v) for k, v in filters.items()},
        "rows": stats.rows,
        "kept": dict(stats.kept),
        "skipped": dict(stats.skipped),
        "measurements": stats.measurements,
        "genotypes": len(ds),
        "genes": len(genes),
        "max_genes_per_genotype": int(ds.lengths.max()),
        "cached": stats.cached,
        "seconds": round(seconds, 4),
        "peak_rss_mb": round(rss, 1),
    }
    if not get_format(fmt).screen:
        report["filters"] = {}
    if go is not None:
        # imports torch: only when asked
        from dcellx.data.universe import load_ontology_with_datasets

        known = set(load_ontology_with_datasets(go).gene_ids)
        unknown = sorted(genes - known)
        report.update(go=go, unknown_genes=len(unknown), unknown_gene_list=unknown)
    return report
