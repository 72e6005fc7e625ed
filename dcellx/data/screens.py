"""Any genotype file as a ``GenotypeDataset`` (``load_screen``), its format named or sniffed.

The formats are registered in ``dcellx.data.formats``, one module each (the published screens
``costanzo2016`` and ``kuzmin2018``, a genotype ``table``, the ``dcell`` format); each module's
docstring names its columns and phenotypes. Screen files are tab-separated with one header line;
columns are found by name, so a reordered or re-exported file still reads.

Screen strain ids carry the systematic ORF(s) before the first ``_`` (``YAL002W_sn1003``);
Kuzmin's double-mutant queries join two with ``+`` (``YAL015C+YDL227C_tm461``). Each must match
``ORF_PATTERN`` (nuclear ORFs only; a strain without one is an ``InputError`` with file:line).

Each strain's allele type (``deletion``, ``ts``, ``damp`` or ``other``) is inferred from its
strain-id suffix (``sn``/``dma`` deletion, ``tsq``/``tsa`` TS, ``damp``), its allele name (``Δ``,
``-damp``, ``-<digit>``) and, for arrays, ``Arraytype/Temp`` (``DMA``/``TSA``); the exact rule
order is in ``dcellx.data.sga``. It is kept per row in ``meta["allele_types"]`` (``+``-joined in
the row's gene order; ``|`` between different combinations merged into one row) and can filter.

Rows are measurements; the same gene set measured several times (A×B and B×A, both temperatures,
several alleles) becomes one genotype whose value is the mean, with the number of measurements in
``counts``. Rows whose phenotype cell is empty or NaN, and rows naming one gene twice, are skipped
with a warning. Filters (p-value, |ε|, allele type, mutant type) apply to measurements before
averaging; a ``ScreenStats`` passed as ``stats=`` receives the rows read, kept after each filter
and skipped (``dcellx data inspect`` prints them). ``load_screen`` keeps parsed screens in a
cache keyed by file content and options (``dcellx.data.screen_cache``).

Your own screens, or batches exported from other frameworks: write a CSV/TSV with a ``genes``
column (``;``-joined systematic names, e.g. ``YML032C;YER095W``) and one numeric column per
phenotype; ``load_screen``/``load_genotypes`` read it as format ``table``. Standard names can be
mapped with ``dcellx.data.symbols.map_gene_names``.
"""

from __future__ import annotations

from pathlib import Path

from dcellx.data.collect import Duplicates
from dcellx.data.formats import FORMATS, SCREEN_FORMATS, get_format, sniff_format
from dcellx.data.screen_cache import cached_read
from dcellx.data.sga import ScreenStats
from dcellx.data.store import GenotypeDataset
from dcellx.errors import ConfigError
from dcellx.io import registry

__all__ = ["FORMATS", "SCREEN_FORMATS", "ScreenStats", "load_screen", "sniff_format"]


# -- dispatch -----------------------------------------------------------------------------------
# A DCell file or table smaller than this is parsed each time (as fast as a cache lookup: a
# million-line file parses in ~2 s); screens are always cached.
PLAIN_CACHE_BYTES = 8 << 20


def _size(path: str | Path) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0  # the reader names the problem


def load_screen(
    path_or_name: str | Path,
    format: str = "auto",
    phenotype: str | None = None,
    *,
    duplicates: Duplicates = "mean",
    cache: bool = True,
    stats: ScreenStats | None = None,
    **filters: object,
) -> GenotypeDataset:
    """Read any registered genotype file; ``format="auto"`` sniffs it from the header line.

    ``phenotype`` picks the screen's value (default: the format's first, ``epsilon`` for
    Costanzo, ``tau`` for Kuzmin) or, for a table, one of its phenotype columns; ``filters`` go to
    the screen reader (``max_pvalue``, ``min_abs_epsilon``, ``allele_types``, ``mutant_types``,
    ``drop_ho``: each format lists those it takes). A screen is read through the parsed-screen
    cache (``dcellx.data.screen_cache``) unless ``cache=False``. ``stats`` (if given) is filled
    with the row counts; for a DCell file or a table every row is a measurement.
    """
    named = None if format == "auto" else get_format(format)  # a typo refused before any read
    path = registry.resolve(path_or_name)
    spec = named if named is not None else get_format(sniff_format(path))
    if not spec.screen and filters:
        raise ConfigError(f"filters {sorted(filters)} apply to screen formats, not {spec.name!r}")
    unknown = sorted(set(filters) - set(spec.filters))
    if unknown:
        raise ConfigError(f"{spec.name} takes filters {list(spec.filters)}, not {unknown}")
    if spec.screen:
        value = phenotype or spec.phenotypes[0]

        def read(into: ScreenStats) -> GenotypeDataset:
            return spec.read(path, value, duplicates=duplicates, stats=into, **filters)

        if not cache:
            return read(stats if stats is not None else ScreenStats())
        return cached_read(Path(path), spec.name, value, duplicates, filters, read, stats)

    def read_plain(into: ScreenStats) -> GenotypeDataset:
        return spec.read(path, duplicates=duplicates, stats=into)

    if cache and _size(path) >= PLAIN_CACHE_BYTES:
        ds = cached_read(Path(path), spec.name, "", duplicates, {}, read_plain, stats)
    else:
        ds = read_plain(stats if stats is not None else ScreenStats())
    if phenotype is None:
        return ds
    if phenotype not in ds.phenotypes:
        raise ConfigError(f"{path}: no phenotype {phenotype!r} (has {ds.phenotypes})")
    col = ds.phenotypes.index(phenotype)
    return ds.with_values(ds.values[:, [col]], [phenotype])
