"""``table``: a CSV/TSV with a ``genes`` column (``;``-joined systematic names, e.g.
``YML032C;YER095W``) and one numeric column per phenotype (reader:
``dcellx.data.genotypes.read_genotype_table``); your own screens, or batches exported from other
frameworks. Recognised by a header with a cell ``genes`` (quotes around it allowed)."""

from __future__ import annotations

import re

from dcellx.data.formats.spec import GenotypeFormat
from dcellx.data.genotypes import read_genotype_table


def sniff(line: str) -> bool:
    return "genes" in {c.strip().strip("\"'") for c in re.split(r"[\t,]", line)}


FORMAT = GenotypeFormat("table", sniff, read_genotype_table)
