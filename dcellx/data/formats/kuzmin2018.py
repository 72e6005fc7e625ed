"""``kuzmin2018``: Kuzmin et al. 2018 (Science) digenic and trigenic measurements as genotypes.

The files: Data S1 (raw scores) or Data S2 (treated). Columns used: ``Query strain ID``,
``Query allele name``, ``Array strain ID``, ``Array allele name``, ``Combined mutant type``
(``digenic``/``trigenic``), ``Raw genetic interaction score (epsilon)``, ``Adjusted genetic
interaction score (epsilon or tau)`` (S2: ``Adjusted genetic interaction``), ``P-value``,
``Combined mutant fitness``. Phenotypes: ``tau`` (the adjusted score: τ on trigenic rows, ε on
digenic rows, where it equals the raw score), ``epsilon`` (the raw score) or ``fitness``
(combined-mutant fitness). Recognised by a header naming ``Query strain ID`` and ``Combined
mutant type``.

Double-mutant queries join two ORFs with ``+`` (``YAL015C+YDL227C_tm461``); the digenic queries
pair the gene with ``hoΔ`` (HO, YDL227C), a neutral marker, dropped from gene sets unless
``drop_ho=False``.
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

PHENOTYPES = ("tau", "epsilon", "fitness")  # the first is the default
MUTANT_TYPES = ("digenic", "trigenic")
HO_ORF = "YDL227C"

ROLES: Roles = {
    **COMMON_ROLES,
    "type": ("combined mutant type",),
    "epsilon": ("raw genetic interaction score epsilon", "raw genetic interaction score"),
    "tau": (
        "adjusted genetic interaction score epsilon or tau",
        "adjusted genetic interaction score",
        "adjusted genetic interaction",
    ),
    "fitness": ("combined mutant fitness", "double triple mutant fitness"),
}


def sniff(line: str) -> bool:
    names = header_names(line)
    return "query strain id" in names and "combined mutant type" in names


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
    if phenotype not in PHENOTYPES:
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
    for block in read_ahead(screen_blocks(path, ROLES, required, out), *rules.roles()):
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
            why = rejects(alleles, cells, ix, label, n, wanted=wanted, max_pvalue=max_pvalue)
            if why is not None:
                out.dropped[why] += 1
                continue
            add_row(out, alleles, cells[ix[phenotype]], phenotype, label, n, mutant_type=kind)
    kept = active(mutant_types=kinds, allele_types=wanted, max_pvalue=max_pvalue)
    filters = f"max_pvalue={max_pvalue}, mutant_types={mutant_types}, alleles={allele_types}"
    return out.result(phenotype, str(path), filters, stats, kept)


FORMAT = GenotypeFormat(
    "kuzmin2018",
    sniff,
    read_kuzmin2018,
    phenotypes=PHENOTYPES,
    filters=("max_pvalue", "mutant_types", "allele_types", "drop_ho"),
)
