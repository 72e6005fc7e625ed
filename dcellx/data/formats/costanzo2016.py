"""``costanzo2016``: Costanzo et al. 2016 SGA pair files as double-mutant genotypes.

The files: ``SGA_ExE.txt``, ``SGA_NxN.txt``, ``SGA_ExN_NxE.txt``, ``SGA_DAmP.txt``, or their zip
(Data File S1). Columns used: ``Query Strain ID``, ``Query allele name``, ``Array Strain ID``,
``Array allele name``, ``Arraytype/Temp``, ``Genetic interaction score (ε)``, ``P-value``,
``Double mutant fitness``. Phenotypes: ``epsilon`` (ε) or ``dmf`` (double-mutant fitness).
Recognised by a header naming ``Query Strain ID`` and ``Arraytype/Temp``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from dcellx.data.blocks import read_ahead, screen_blocks
from dcellx.data.collect import Duplicates
from dcellx.data.formats.sga_rows import COMMON_ROLES, active, add_row, header_names, rejects
from dcellx.data.formats.spec import GenotypeFormat
from dcellx.data.screen_fast import RowRules, StrainTable, read_block
from dcellx.data.sga import Roles, ScreenCollector, ScreenStats, check_allele_filter, row_alleles
from dcellx.data.store import GenotypeDataset
from dcellx.errors import ConfigError

PHENOTYPES = ("epsilon", "dmf")  # the first is the default
ROLES: Roles = {
    **COMMON_ROLES,
    "arraytype": ("arraytype temp", "array type temp", "arraytype"),
    "epsilon": ("genetic interaction score epsilon", "genetic interaction score"),
    "dmf": ("double mutant fitness",),
}


def sniff(line: str) -> bool:
    names = header_names(line)
    return "query strain id" in names and bool(names & set(ROLES["arraytype"]))


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
    if phenotype not in PHENOTYPES:
        raise ConfigError(f"Costanzo 2016 phenotype must be 'epsilon' or 'dmf', not {phenotype!r}")
    path = Path(path)
    wanted = check_allele_filter(allele_types)
    out = ScreenCollector(path, duplicates, ("allele_types", "arraytype"))
    required = ["query", "array", phenotype]
    required += ["pvalue"] if max_pvalue is not None else []
    required += ["epsilon"] if min_abs_epsilon is not None else []
    rules = RowRules(phenotype, wanted, max_pvalue, min_abs_epsilon, arraytype=True)
    table = StrainTable(out)
    for block in read_ahead(screen_blocks(path, ROLES, required, out), *rules.roles()):
        if read_block(block, out, table, rules):
            continue
        for label, n, cells, ix in block.rows(out):  # the line rules name a problem's line
            arraytype = cells[ix["arraytype"]].strip()
            alleles = row_alleles(cells, ix, arraytype, label, n)
            why = rejects(
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
            add_row(out, alleles, cells[ix[phenotype]], phenotype, label, n, arraytype=arraytype)
    kept = active(allele_types=wanted, max_pvalue=max_pvalue, min_abs_epsilon=min_abs_epsilon)
    filters = f"max_pvalue={max_pvalue}, min_abs_epsilon={min_abs_epsilon}, alleles={allele_types}"
    return out.result(phenotype, str(path), filters, stats, kept)


FORMAT = GenotypeFormat(
    "costanzo2016",
    sniff,
    read_costanzo2016,
    phenotypes=PHENOTYPES,
    filters=("max_pvalue", "min_abs_epsilon", "allele_types"),
)
