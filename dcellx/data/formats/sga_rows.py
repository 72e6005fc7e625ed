"""Line rules shared by the SGA screen formats (``costanzo2016``, ``kuzmin2018``): the columns
both name, header sniffing, the row filters and how a kept row becomes a measurement. The same
rules a block at a time are ``dcellx.data.screen_fast``."""

from __future__ import annotations

import re

from dcellx.data.sga import Roles, ScreenCollector, cell_value, norm_header

# Accepted (normalised) header names per column role; see ``norm_header``.
COMMON_ROLES: Roles = {
    "query": ("query strain id",),
    "query_allele": ("query allele name",),
    "array": ("array strain id",),
    "array_allele": ("array allele name",),
    "pvalue": ("p value", "pvalue"),
}


def header_names(line: str) -> set[str]:
    """The normalised column names of a header line (tab- or comma-separated)."""
    return {norm_header(c) for c in re.split(r"[\t,]", line)}


def rejects(
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


def active(**filters: object) -> list[str]:
    """The names of the filters that are set, in the order given."""
    return [name for name, value in filters.items() if value is not None]


def add_row(
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
