"""The data layer (2): genotype-phenotype datasets (DCell files, tables, screens) by name."""

from dcellx.data.datasets import NAMED_DATASETS, load_dataset, load_genotypes
from dcellx.data.genotypes import (
    GenotypeDataset,
    read_dcell_genotypes,
    read_genotype_table,
    write_dcell_genotypes,
)

__all__ = [
    "NAMED_DATASETS",
    "GenotypeDataset",
    "load_dataset",
    "load_genotypes",
    "read_dcell_genotypes",
    "read_genotype_table",
    "write_dcell_genotypes",
]
