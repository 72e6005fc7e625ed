"""Published genetic-interaction screens as ``GenotypeDataset``s, and format sniffing.

Formats (all tab-separated with one header line; columns are found by name, so a reordered or
re-exported file still reads):

* ``costanzo2016`` -- Costanzo et al. 2016 SGA pair files (``SGA_ExE.txt``, ``SGA_NxN.txt``,
  ``SGA_ExN_NxE.txt``, ``SGA_DAmP.txt``, or their zip, Data File S1). Columns used:
  ``Query Strain ID``, ``Query allele name``, ``Array Strain ID``, ``Array allele name``,
  ``Arraytype/Temp``, ``Genetic interaction score (ε)``, ``P-value``, ``Double mutant fitness``.
  Phenotypes: ``epsilon`` (ε) or ``dmf`` (double-mutant fitness).
* ``kuzmin2018`` -- Kuzmin et al. 2018 (Science) Data S1 (raw scores) or Data S2 (treated).
  Columns used: ``Query strain ID``, ``Query allele name``, ``Array strain ID``,
  ``Array allele name``, ``Combined mutant type`` (``digenic``/``trigenic``),
  ``Raw genetic interaction score (epsilon)``, ``Adjusted genetic interaction score (epsilon or
  tau)`` (S2: ``Adjusted genetic interaction``), ``P-value``, ``Combined mutant fitness``.
  Phenotypes: ``tau`` (the adjusted score: τ on trigenic rows, ε on digenic rows, where it equals
  the raw score), ``epsilon`` (the raw score) or ``fitness`` (combined-mutant fitness).

Strain ids carry the systematic ORF(s) before the first ``_`` (``YAL002W_sn1003``); Kuzmin's
double-mutant queries join two with ``+`` (``YAL015C+YDL227C_tm461``). Each must match
``ORF_PATTERN`` (nuclear ORFs only; a strain without one is an ``InputError`` with file:line).
Kuzmin's digenic queries pair the gene with ``hoΔ`` (HO, YDL227C), a neutral marker: HO is
dropped from gene sets unless ``drop_ho=False``.

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

import re
from collections.abc import Iterable
from pathlib import Path

from dcellx.data.blocks import read_ahead, screen_blocks
from dcellx.data.genotypes import (
    Duplicates,
    GenotypeDataset,
    read_dcell_genotypes,
    read_genotype_table,
)
from dcellx.data.screen_cache import cached_read
from dcellx.data.screen_fast import RowRules, StrainTable, read_block
from dcellx.data.sga import (
    ALLELE_TYPES,
    Roles,
    ScreenCollector,
    ScreenStats,
    allele_type,
    cell_value,
    check_allele_filter,
    first_line,
    norm_header,
    row_alleles,
    strain_orfs,
)
from dcellx.data.symbols import ORF_PATTERN, load_symbol_table, map_gene_names
from dcellx.errors import ConfigError
from dcellx.io import registry

__all__ = [
    "ALLELE_TYPES",
    "FORMATS",
    "HO_ORF",
    "MUTANT_TYPES",
    "ORF_PATTERN",
    "SCREEN_FORMATS",
    "ScreenStats",
    "allele_type",
    "load_screen",
    "load_symbol_table",
    "map_gene_names",
    "read_costanzo2016",
    "read_kuzmin2018",
    "sniff_format",
    "strain_orfs",
]

SCREEN_FORMATS = ("costanzo2016", "kuzmin2018")
FORMATS = ("auto", "dcell", "table", *SCREEN_FORMATS)
MUTANT_TYPES = ("digenic", "trigenic")
HO_ORF = "YDL227C"

# Accepted (normalised) header names per column role; see ``norm_header``.
_COMMON: Roles = {
    "query": ("query strain id",),
    "query_allele": ("query allele name",),
    "array": ("array strain id",),
    "array_allele": ("array allele name",),
    "pvalue": ("p value", "pvalue"),
}
_COSTANZO: Roles = {
    **_COMMON,
    "arraytype": ("arraytype temp", "array type temp", "arraytype"),
    "epsilon": ("genetic interaction score epsilon", "genetic interaction score"),
    "dmf": ("double mutant fitness",),
}
_KUZMIN: Roles = {
    **_COMMON,
    "type": ("combined mutant type",),
    "epsilon": ("raw genetic interaction score epsilon", "raw genetic interaction score"),
    "tau": (
        "adjusted genetic interaction score epsilon or tau",
        "adjusted genetic interaction score",
        "adjusted genetic interaction",
    ),
    "fitness": ("combined mutant fitness", "double triple mutant fitness"),
}


_FILTERS = {
    "costanzo2016": ("max_pvalue", "min_abs_epsilon", "allele_types"),
    "kuzmin2018": ("max_pvalue", "mutant_types", "allele_types", "drop_ho"),
}


def sniff_format(path: str | Path) -> str:
    """``costanzo2016``, ``kuzmin2018``, ``table`` or ``dcell``, from the header line alone."""
    header = first_line(Path(path))
    cells = {norm_header(c) for c in re.split(r"[\t,]", header)}
    if "query strain id" in cells and cells & set(_COSTANZO["arraytype"]):
        return "costanzo2016"
    if "query strain id" in cells and "combined mutant type" in cells:
        return "kuzmin2018"
    if "genes" in {c.strip().strip("\"'") for c in re.split(r"[\t,]", header)}:
        return "table"
    return "dcell"


def _rejects(
    alleles: list[tuple[str, str]],
    cells: list[str],
    ix: dict[str, int],
    label: str,
    lineno: int,
    *,
    wanted: set[str] | None,
    max_pvalue: float | None,
    min_abs_epsilon: float | None = None,
) -> str | None:
    """The row filters of both screens, in this order: allele types, P-value, |epsilon|; the
    name of the first that removes the row, or None when it is kept."""
    if wanted is not None and any(t not in wanted for _, t in alleles):
        return "allele_types"
    if max_pvalue is not None:
        p = cell_value(cells[ix["pvalue"]], label, lineno, "P-value")
        if p is None or p > max_pvalue:
            return "max_pvalue"
    if min_abs_epsilon is not None:
        e = cell_value(cells[ix["epsilon"]], label, lineno, "epsilon")
        if e is None or abs(e) < min_abs_epsilon:
            return "min_abs_epsilon"
    return None


def _active(**filters: object) -> list[str]:
    """The names of the filters that are set, in the order given."""
    return [name for name, value in filters.items() if value is not None]


def _add(
    out: ScreenCollector,
    alleles: list[tuple[str, str]],
    cell: str,
    phenotype: str,
    label: str,
    lineno: int,
    **meta: str,
) -> None:
    """Add one measurement, or count why it cannot be a genotype."""
    value = cell_value(cell, label, lineno, phenotype)
    if value is None:
        out.skipped[f"rows without {phenotype}"] += 1
    elif not alleles:
        out.skipped["rows with HO as the only gene"] += 1
    elif len({g for g, _ in alleles}) != len(alleles):
        out.skipped["rows naming one gene twice"] += 1
    else:
        out.add_measurement(alleles, value, lineno, **meta)


# -- Costanzo 2016 ------------------------------------------------------------------------------
def read_costanzo2016(
    path: str | Path,
    phenotype: str = "epsilon",
    *,
    max_pvalue: float | None = None,
    min_abs_epsilon: float | None = None,
    allele_types: Iterable[str] | None = None,
    duplicates: Duplicates = "mean",
    stats: ScreenStats | None = None,
) -> GenotypeDataset:
    """Costanzo 2016 SGA pairs (a file, or the Data File S1 zip) as double-mutant genotypes.

    ``max_pvalue`` keeps measurements with P <= it; ``min_abs_epsilon`` those with |ε| >= it;
    ``allele_types`` those whose strains are all of the listed types. ``meta`` holds
    ``allele_types`` and ``arraytype`` (``DMA30``, ``TSA26``, ...) per row. ``stats``, if given,
    is filled with the row counts (``ScreenStats``), also when no genotype is left.
    """
    if phenotype not in ("epsilon", "dmf"):
        raise ConfigError(f"Costanzo 2016 phenotype must be 'epsilon' or 'dmf', not {phenotype!r}")
    path = Path(path)
    wanted = check_allele_filter(allele_types)
    out = ScreenCollector(path, duplicates, ("allele_types", "arraytype"))
    required = ["query", "array", phenotype]
    required += ["pvalue"] if max_pvalue is not None else []
    required += ["epsilon"] if min_abs_epsilon is not None else []
    rules = RowRules(phenotype, wanted, max_pvalue, min_abs_epsilon, arraytype=True)
    table = StrainTable(out)
    for block in read_ahead(screen_blocks(path, _COSTANZO, required, out), *rules.roles()):
        if read_block(block, out, table, rules):
            continue
        for label, n, cells, ix in block.rows(out):  # the line rules name a problem's line
            arraytype = cells[ix["arraytype"]].strip()
            alleles = row_alleles(cells, ix, arraytype, label, n)
            why = _rejects(
                alleles,
                cells,
                ix,
                label,
                n,
                wanted=wanted,
                max_pvalue=max_pvalue,
                min_abs_epsilon=min_abs_epsilon,
            )
            if why is not None:
                out.dropped[why] += 1
                continue
            _add(out, alleles, cells[ix[phenotype]], phenotype, label, n, arraytype=arraytype)
    active = _active(allele_types=wanted, max_pvalue=max_pvalue, min_abs_epsilon=min_abs_epsilon)
    filters = f"max_pvalue={max_pvalue}, min_abs_epsilon={min_abs_epsilon}, alleles={allele_types}"
    return out.result(phenotype, str(path), filters, stats, active)


# -- Kuzmin 2018 --------------------------------------------------------------------------------
def read_kuzmin2018(
    path: str | Path,
    phenotype: str = "tau",
    *,
    max_pvalue: float | None = None,
    mutant_types: Iterable[str] | None = None,
    allele_types: Iterable[str] | None = None,
    drop_ho: bool = True,
    duplicates: Duplicates = "mean",
    stats: ScreenStats | None = None,
) -> GenotypeDataset:
    """Kuzmin 2018 digenic and trigenic measurements (Data S1 or S2) as genotypes.

    ``mutant_types`` keeps ``digenic`` and/or ``trigenic`` rows; ``max_pvalue`` keeps P <= it;
    ``allele_types`` as for Costanzo. ``meta`` holds ``allele_types`` and ``mutant_type``;
    ``stats`` as for Costanzo.
    """
    if phenotype not in ("tau", "epsilon", "fitness"):
        raise ConfigError(
            f"Kuzmin 2018 phenotype must be 'tau', 'epsilon' or 'fitness', not {phenotype!r}"
        )
    path = Path(path)
    wanted = check_allele_filter(allele_types)
    kinds = None if mutant_types is None else {m.strip().casefold() for m in mutant_types}
    if kinds is not None and not kinds <= set(MUTANT_TYPES):
        raise ConfigError(f"unknown mutant type(s) {sorted(kinds - set(MUTANT_TYPES))}")
    out = ScreenCollector(path, duplicates, ("allele_types", "mutant_type"))
    required = ["query", "array", phenotype]
    required += ["pvalue"] if max_pvalue is not None else []
    required += ["type"] if kinds is not None else []
    ho = HO_ORF if drop_ho else None
    rules = RowRules(phenotype, wanted, max_pvalue, kinds=kinds, drop_ho=ho)
    table = StrainTable(out)
    for block in read_ahead(screen_blocks(path, _KUZMIN, required, out), *rules.roles()):
        if read_block(block, out, table, rules):
            continue
        for label, n, cells, ix in block.rows(out):  # the line rules name a problem's line
            kind = cells[ix["type"]].strip().casefold()
            if kinds is not None and kind not in kinds:
                out.dropped["mutant_types"] += 1
                continue
            alleles = row_alleles(cells, ix, "", label, n)
            if drop_ho:
                alleles = [(g, t) for g, t in alleles if g != HO_ORF]
            why = _rejects(alleles, cells, ix, label, n, wanted=wanted, max_pvalue=max_pvalue)
            if why is not None:
                out.dropped[why] += 1
                continue
            _add(out, alleles, cells[ix[phenotype]], phenotype, label, n, mutant_type=kind)
    active = _active(mutant_types=kinds, allele_types=wanted, max_pvalue=max_pvalue)
    filters = f"max_pvalue={max_pvalue}, mutant_types={mutant_types}, alleles={allele_types}"
    return out.result(phenotype, str(path), filters, stats, active)


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
    """Read any supported genotype file; ``format="auto"`` sniffs it from the header line.

    ``phenotype`` picks the screen's value (defaults: ``epsilon`` for Costanzo, ``tau`` for
    Kuzmin) or, for a table, one of its phenotype columns; ``filters`` go to the screen reader
    (``max_pvalue``, ``min_abs_epsilon``, ``allele_types``, ``mutant_types``, ``drop_ho``).
    A screen is read through the parsed-screen cache (``dcellx.data.screen_cache``) unless
    ``cache=False``. ``stats`` (if given) is filled with the row counts; for a DCell file or a
    table every row is a measurement.
    """
    if format not in FORMATS:
        raise ConfigError(f"unknown genotype format {format!r}; choose from {list(FORMATS)}")
    path = registry.resolve(path_or_name)
    fmt = sniff_format(path) if format == "auto" else format
    if fmt not in SCREEN_FORMATS and filters:
        raise ConfigError(f"filters {sorted(filters)} apply to screen formats, not {fmt!r}")
    unknown = sorted(set(filters) - set(_FILTERS.get(fmt, ())))
    if unknown:
        raise ConfigError(f"{fmt} takes filters {list(_FILTERS[fmt])}, not {unknown}")
    if fmt in SCREEN_FORMATS:
        reader = read_costanzo2016 if fmt == "costanzo2016" else read_kuzmin2018
        value = phenotype or ("epsilon" if fmt == "costanzo2016" else "tau")

        def read(into: ScreenStats) -> GenotypeDataset:
            return reader(path, value, duplicates=duplicates, stats=into, **filters)  # type: ignore[arg-type]

        if not cache:
            return read(stats if stats is not None else ScreenStats())
        return cached_read(Path(path), fmt, value, duplicates, filters, read, stats)
    plain = read_genotype_table if fmt == "table" else read_dcell_genotypes

    def read_plain(into: ScreenStats) -> GenotypeDataset:
        return plain(path, duplicates=duplicates, stats=into)

    if cache and _size(path) >= PLAIN_CACHE_BYTES:
        ds = cached_read(Path(path), fmt, "", duplicates, {}, read_plain, stats)
    else:
        ds = read_plain(stats if stats is not None else ScreenStats())
    if phenotype is None:
        return ds
    if phenotype not in ds.phenotypes:
        raise ConfigError(f"{path}: no phenotype {phenotype!r} (has {ds.phenotypes})")
    col = ds.phenotypes.index(phenotype)
    return ds.with_values(ds.values[:, [col]], [phenotype])
