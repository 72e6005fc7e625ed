"""Perturbations applied directly on the compiled sparse structure.

A genotype disrupts 1-3 of ~4,000 input genes, so a batch is stored as the list of its
(sample, gene) pairs -- O(total perturbed genes) -- never as a dense batch x genes x terms table and
never as a per-sample copy of the incidence. The model expands each pair through the ontology's
gene -> term incidence when it needs term inputs (see ``dcellx.nn``).

Everything whose size depends on the batch's contents is known here, on the host, before the
copy to a device; ``make_batch(..., pairs=)`` pads a batch to a fixed number of pairs, so that
every batch of one size has the same shapes (see ``dcellx.nn.genes.base``).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch

from dcellx.data.genotypes import GenotypeDataset
from dcellx.data.symbols import mapping_hint
from dcellx.errors import InputError, warn
from dcellx.ontology.compiled import CompiledOntology

UnknownPolicy = Literal["warn", "error", "ignore"]
# Unknown-gene warnings said in this process: once each (the verdict and a sweep's runs encode the
# same file again).
_WARNED: set[str] = set()


@dataclass
class EncodedGenotypes:
    """A dataset mapped to ontology gene indices, as CSR: genotype i perturbs
    ``genes[ptr[i]:ptr[i+1]]``. Genes the ontology lacks are dropped (invisible to the model) and
    counted in ``invisible`` per genotype."""

    ptr: np.ndarray  # int64 [N+1]
    genes: np.ndarray  # int64 [K]
    values: np.ndarray  # float32 [N, P]
    invisible: np.ndarray  # int64 [N]
    invisible_names: Counter = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self.ptr) - 1


def encode_genotypes(
    ds: GenotypeDataset, onto: CompiledOntology, unknown: UnknownPolicy = "warn"
) -> EncodedGenotypes:
    """Map gene names to ontology gene indices once per dataset (batches then only slice)."""
    lut = ds.encode_names(onto.gene_index)  # vocabulary code -> ontology gene, -1 if none
    present = ds.codes >= 0
    mapped = np.where(present, lut[np.maximum(ds.codes, 0)], -1)
    visible = mapped >= 0
    ptr = np.zeros(len(ds) + 1, dtype=np.int64)
    np.cumsum(visible.sum(axis=1), out=ptr[1:])
    hidden = present & ~visible
    invisible = hidden.sum(axis=1).astype(np.int64)
    names: Counter = Counter()
    if hidden.any():  # in file order: a message names the first ones met
        flat = ds.codes[hidden]
        used, first, count = np.unique(flat, return_index=True, return_counts=True)
        for i in np.argsort(first, kind="stable").tolist():
            names[ds.vocab[int(used[i])]] = int(count[i])
    enc = EncodedGenotypes(
        ptr, mapped[visible].astype(np.int64), ds.values.astype(np.float32), invisible, names
    )
    report_unknown(enc, ds.source, onto, unknown)
    return enc


def report_unknown(
    enc: EncodedGenotypes, source: str, onto: CompiledOntology, unknown: UnknownPolicy
) -> None:
    """``--unknown-genes``: refuse (``error``) or name in one warning line (``warn``) the genes
    of ``enc`` the ontology lacks, with what would map them (``mapping_hint``)."""
    names = enc.invisible_names
    if not names or unknown == "ignore":
        return
    what = f"{len(names)} gene name(s) in {int((enc.invisible > 0).sum())} genotypes"
    hint = mapping_hint(names, onto.gene_index)
    if unknown == "error":
        raise InputError(
            source,
            None,
            f"{what} are not in ontology {onto.name!r} (first: {_first(names)}); {hint}; "
            "--unknown-genes warn trains with them invisible",
        )
    line = (
        f"{source}: {what} are not inputs of ontology {onto.name!r} and are invisible to the "
        f"model (first: {_first(names)}); {hint}"
    )
    if line not in _WARNED:
        _WARNED.add(line)
        warn(line)


def _first(names: Collection[str], n: int = 3) -> str:
    """The first ``n`` names (in file order) for a message, with "..." if there are more."""
    first = list(itertools.islice(names, n))
    return ", ".join(first) + (", ..." if len(names) > n else "")


def require_visible(
    enc: EncodedGenotypes, rows: np.ndarray, source: str, onto: CompiledOntology, what: str
) -> None:
    """Refuse to train on ``rows`` if not one of them perturbs a gene of the ontology: every
    input would be the wild type and the run would end in NaN (``what``: "the batch")."""
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) == 0 or (enc.ptr[rows + 1] - enc.ptr[rows]).any():
        return
    names = list(enc.invisible_names)  # in file order
    raise InputError(
        source,
        None,
        f"no genotype of {what} ({len(rows)} genotypes) has a gene of ontology {onto.name!r}; "
        f"the file names {len(names)} genes it lacks (first: {_first(names)}): "
        f"{mapping_hint(names, onto.gene_index)}",
    )


NO_GENE = -1  # the gene of a padding pair (``make_batch(..., pairs=)``): it perturbs nothing


@dataclass
class PerturbationBatch:
    """One batch: ``y[b]`` is genotype b's phenotype; it disrupts genes ``gene[sample == b]``.

    A pair with gene ``NO_GENE`` is padding (row 0, no gene): ``make_batch(..., pairs=n)`` pads
    the pairs to a fixed number so that batches of one size share every shape (a CUDA graph).
    ``host_gene`` and ``host_sample`` keep the pairs on the host after ``to`` moved the batch to
    a device: the model sizes its sparse gene entries from them without waiting for the device."""

    size: int
    sample: torch.Tensor  # int64 [K]: row in the batch
    gene: torch.Tensor  # int64 [K]: ontology gene index, or NO_GENE
    y: torch.Tensor  # float32 [B, P]
    rows: torch.Tensor  # int64 [B]: dataset rows
    invisible: int  # perturbed genes the ontology lacks (no trace in the input)
    host_gene: np.ndarray | None = None  # int64 [K]: ``gene`` on the host (None: gene is there)
    host_sample: np.ndarray | None = None  # int64 [K]: ``sample`` on the host

    def to(self, device: torch.device | str) -> PerturbationBatch:
        """The batch on ``device``; to CUDA through pinned memory without blocking the host (the
        copies are ordered on the current stream before any kernel that reads them)."""
        return PerturbationBatch(
            self.size,
            to_device(self.sample, device),
            to_device(self.gene, device),
            to_device(self.y, device),
            self.rows,
            self.invisible,
            self.host_genes(),
            self.host_samples(),
        )

    def host_genes(self) -> np.ndarray:
        """``gene`` on the host: the kept copy, else read from ``gene`` (a device sync when it
        sits on a device and the batch was not moved there by ``to``)."""
        if self.host_gene is not None:
            return self.host_gene
        return self.gene.cpu().numpy()

    def host_samples(self) -> np.ndarray:
        """``sample`` on the host (as ``host_genes``)."""
        if self.host_sample is not None:
            return self.host_sample
        return self.sample.cpu().numpy()

    def dense(self, num_genes: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """[B, G] binary genotype (1 = disrupted): for reference checks and dense baselines."""
        x = torch.zeros(self.size, num_genes + 1, dtype=dtype, device=self.gene.device)
        x[self.sample, torch.where(self.gene == NO_GENE, num_genes, self.gene)] = 1
        return x[:, :num_genes]


def to_device(t: torch.Tensor | np.ndarray, device: torch.device | str) -> torch.Tensor:
    """``t`` on ``device``; from the host to CUDA through pinned memory without blocking the host
    (ordered on the current stream before any kernel that reads it)."""
    t = torch.as_tensor(t)
    if torch.device(device).type == "cuda" and t.device.type == "cpu":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def pair_capacity(enc: EncodedGenotypes, batch_size: int) -> int:
    """The most (sample, gene) pairs a batch of ``batch_size`` genotypes of ``enc`` can have:
    the sum of the ``batch_size`` largest genotypes (``make_batch(..., pairs=)``)."""
    lens = np.sort(np.diff(enc.ptr))[::-1]
    return int(lens[:batch_size].sum())


def make_batch(
    enc: EncodedGenotypes, rows: np.ndarray | list[int], pairs: int | None = None
) -> PerturbationBatch:
    """Slice genotypes ``rows`` out of the CSR in O(perturbed genes) with vectorised numpy;
    ``pairs``: pad the pairs to that many with (row 0, ``NO_GENE``) (at least the batch's own;
    ``pair_capacity`` gives the most any batch of a size needs)."""
    rows = np.asarray(rows, dtype=np.int64)
    starts = enc.ptr[rows]
    lens = enc.ptr[rows + 1] - starts
    total = int(lens.sum())
    sample = np.repeat(np.arange(len(rows), dtype=np.int64), lens)
    # position of each pair inside its genotype: 0..len-1
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens)
    gene = enc.genes[np.repeat(starts, lens) + offsets]
    if pairs is not None:
        if pairs < total:
            raise ValueError(f"{total} pairs in the batch, more than the {pairs} it is padded to")
        sample = np.concatenate([sample, np.zeros(pairs - total, np.int64)])
        gene = np.concatenate([gene, np.full(pairs - total, NO_GENE, np.int64)])
    return PerturbationBatch(
        size=len(rows),
        sample=torch.from_numpy(sample),
        gene=torch.from_numpy(gene),
        y=torch.from_numpy(enc.values[rows]),
        rows=torch.from_numpy(rows),
        invisible=int(enc.invisible[rows].sum()),
    )
