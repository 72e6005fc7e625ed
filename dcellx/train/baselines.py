"""Baselines trained by the same runner as DCell, so their numbers sit next to DCell's.

``additive``: ridge regression on the binary gene vector, ``y = b + sum_{g in genotype} w_g``,
stored sparsely (one weight per gene) and applied to ``PerturbationBatch`` pairs directly. The L2
penalty is the model config's ``l2`` (baselines get a ridge default, see ``BASELINE_L2``); the bias
is not penalised. Trained with the same optimiser, batches, early stopping and test scoring as DCell
rather than in closed form, so the only difference between the rows of a comparison is the model.

``pairwise``: additive plus one learned term per unordered gene pair *seen in training* (an
embedding table indexed by pair id); pairs never seen in training contribute 0, which is the only
honest prediction a pair term can make for them. The pair vocabulary is part of the state dict, so a
run directory's weights load without the training data (``predict``).

Both return ``(root [B], aux [B, 0])``: no subsystems, no auxiliary heads, no normalisation (train-
and eval-mode predictions are identical).
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import nn

from dcellx.batch import EncodedGenotypes, PerturbationBatch, make_batch
from dcellx.nn.ops import take
from dcellx.train.plain import PlainStateMixin

BASELINES: tuple[str, ...] = ("additive", "pairwise")
# Ridge penalty for baselines when the user gives no --l2: the loss is a batch *mean* squared error,
# so this is lambda / N of the textbook ridge (lambda ~ 1 for N ~ 10^4 genotypes, z-scored labels).
BASELINE_L2 = 1e-4


def batch_pairs(
    sample: torch.Tensor, gene: torch.Tensor, size: int, num_genes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(sample, key ``lo * num_genes + hi``) of every unordered gene pair within a sample.

    Pads each sample's genes to the largest genotype in the batch (k <= 3 for real screens), then
    takes position pairs (a, b), a < b: O(B k^2) work with no Python loop over samples.
    """
    if gene.numel() == 0:
        empty = torch.zeros(0, dtype=torch.long, device=gene.device)
        return empty, empty
    order = torch.argsort(sample, stable=True)
    s, g = sample[order], gene[order]
    counts = torch.bincount(s, minlength=size)
    kmax = int(counts.max())
    if kmax < 2:
        empty = torch.zeros(0, dtype=torch.long, device=gene.device)
        return empty, empty
    starts = torch.cumsum(counts, 0) - counts
    pos = torch.arange(len(s), device=s.device) - starts[s]
    pad = torch.full((size, kmax), -1, dtype=torch.long, device=gene.device)
    pad[s, pos] = g
    rows, keys = [], []
    for a, b in itertools.combinations(range(kmax), 2):
        ga, gb = pad[:, a], pad[:, b]
        ok = torch.nonzero((ga >= 0) & (gb >= 0) & (ga != gb)).squeeze(1)
        lo, hi = torch.minimum(ga[ok], gb[ok]), torch.maximum(ga[ok], gb[ok])
        rows.append(ok)
        keys.append(lo * num_genes + hi)
    return torch.cat(rows), torch.cat(keys)


def training_pairs(enc: EncodedGenotypes, rows: np.ndarray, num_genes: int) -> np.ndarray:
    """Sorted distinct pair keys (ontology gene indices) over genotypes ``rows``: the pairwise
    baseline's vocabulary. Only the training rows may be passed, or the model would get a slot for
    a test pair and the split's promise would be broken."""
    b = make_batch(enc, rows)
    _, keys = batch_pairs(b.sample, b.gene, b.size, num_genes)
    return np.unique(keys.numpy())


class AdditiveBaseline(PlainStateMixin):
    """``b + sum_g w_g`` over the genotype's (visible) genes; weights start at 0."""

    def __init__(self, num_genes: int) -> None:
        super().__init__()
        self.num_genes = num_genes
        self.gene_weight = nn.Parameter(torch.zeros(num_genes))
        self.bias = nn.Parameter(torch.zeros(()))

    def additive(self, batch: PerturbationBatch) -> torch.Tensor:
        root = self.bias.expand(batch.size).clone()
        return root.index_add(0, batch.sample, take(self.gene_weight, batch.gene))

    def forward(self, batch: PerturbationBatch) -> tuple[torch.Tensor, torch.Tensor]:
        root = self.additive(batch)
        return root, root.new_zeros(batch.size, 0)

    def l2_parameters(self) -> list[torch.Tensor]:
        return [self.gene_weight]


class PairwiseBaseline(AdditiveBaseline):
    """Additive plus ``v_p`` for each gene pair ``p`` of the genotype found in ``pair_keys``."""

    def __init__(self, num_genes: int, pair_keys: np.ndarray | None = None) -> None:
        super().__init__(num_genes)
        keys = np.zeros(0, dtype=np.int64) if pair_keys is None else np.asarray(pair_keys)
        keys = np.unique(keys.astype(np.int64))  # sorted: looked up by binary search
        self.register_buffer("pair_keys", torch.from_numpy(keys))
        self.pair_weight = nn.Parameter(torch.zeros(len(keys)))

    def forward(self, batch: PerturbationBatch) -> tuple[torch.Tensor, torch.Tensor]:
        root = self.additive(batch)
        if self.pair_keys.numel():
            rows, keys = batch_pairs(batch.sample, batch.gene, batch.size, self.num_genes)
            idx = torch.searchsorted(self.pair_keys, keys).clamp_max(self.pair_keys.numel() - 1)
            known = self.pair_keys[idx] == keys
            root = root.index_add(0, rows[known], take(self.pair_weight, idx[known]))
        return root, root.new_zeros(batch.size, 0)

    def l2_parameters(self) -> list[torch.Tensor]:
        return [self.gene_weight, self.pair_weight]

    def load_term_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Adopt the stored pair vocabulary (``predict`` builds the model without data)."""
        n = state["pair_keys"].numel()
        if n != self.pair_keys.numel():
            self.pair_keys = torch.zeros(n, dtype=torch.long, device=self.pair_keys.device)
            self.pair_weight = nn.Parameter(torch.zeros(n, device=self.pair_weight.device))
        self.load_state_dict(state)


def build_baseline(variant: str, num_genes: int, pair_keys: np.ndarray | None) -> nn.Module:
    """A fresh baseline (all weights 0: the seed has nothing to fix)."""
    if variant == "additive":
        return AdditiveBaseline(num_genes)
    if variant == "pairwise":
        return PairwiseBaseline(num_genes, pair_keys)
    raise ValueError(f"not a baseline: {variant!r}")
