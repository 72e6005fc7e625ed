"""Genotype data by name or path: named train/test collections, and any file with its format
sniffed (a published screen, a genotype table or the DCell format)."""

from __future__ import annotations

from pathlib import Path

from dcellx.data.genotypes import Duplicates, GenotypeDataset
from dcellx.data.screens import load_screen
from dcellx.io import registry

# Named train/test collections; each value names a registered data file.
NAMED_DATASETS: dict[str, dict[str, str]] = {
    "dcell-dna-repair": {"train": "dcell-dna-repair-train", "test": "dcell-dna-repair-test"},
}


def load_genotypes(path_or_name: str | Path, *, duplicates: Duplicates = "mean") -> GenotypeDataset:
    """Read a registered name or a path, choosing the format from the first data line."""
    return load_screen(registry.resolve(path_or_name), duplicates=duplicates)


def load_dataset(
    name_or_path: str | Path, *, duplicates: Duplicates = "mean"
) -> dict[str, GenotypeDataset]:
    """A named collection as ``{"train": .., "test": ..}``; a single file as ``{"train": ..}``."""
    if isinstance(name_or_path, str) and name_or_path in NAMED_DATASETS:
        named = NAMED_DATASETS[name_or_path]
        return {split: load_genotypes(f, duplicates=duplicates) for split, f in named.items()}
    return {"train": load_genotypes(name_or_path, duplicates=duplicates)}
