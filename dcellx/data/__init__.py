"""The data layer: registered data files (cache, mirror, download) and genotype datasets."""

from dcellx.data.genotypes import (
    NAMED_DATASETS,
    GenotypeDataset,
    load_dataset,
    load_genotypes,
    read_dcell_genotypes,
    read_genotype_table,
    write_dcell_genotypes,
)
from dcellx.data.registry import (
    REGISTRY,
    ChecksumMismatch,
    DataFile,
    cache_dir,
    fetch,
    locate,
    mirror_dir,
    presence,
    resolve,
    sha256_file,
)

__all__ = [
    "NAMED_DATASETS",
    "REGISTRY",
    "ChecksumMismatch",
    "DataFile",
    "GenotypeDataset",
    "cache_dir",
    "fetch",
    "load_dataset",
    "load_genotypes",
    "locate",
    "mirror_dir",
    "presence",
    "read_dcell_genotypes",
    "read_genotype_table",
    "resolve",
    "sha256_file",
    "write_dcell_genotypes",
]
