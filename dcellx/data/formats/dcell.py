"""``dcell``: the original DCell format, one ``k gene1 .. genek value`` genotype per line (reader:
``dcellx.data.genotypes.read_dcell_genotypes``). It has no header, so it is the fallback: a file
no other format claims is read as DCell, whose reader names the first line that is not."""

from __future__ import annotations

from dcellx.data.formats.spec import GenotypeFormat
from dcellx.data.genotypes import read_dcell_genotypes

FORMAT = GenotypeFormat("dcell", None, read_dcell_genotypes)
