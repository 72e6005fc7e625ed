"""What the report runs: variants x seeds per GO version, and the lever sweeps on 2017.

Default budget (2-core CPU): about 2 hours; ``--quick``: about 15 minutes. Epochs per run are
chosen to fit and are printed in the report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

VARIANTS = [
    "binary",
    "embedding",
    "embedding-pooled",
    "embedding-deepset",
    "embedding-attention",
    "shuffled-ontology",
    "mlp",
]


@dataclass
class Lever:
    """One row group of the lever table: a grid over one config key (baseline excluded)."""

    name: str
    key: str
    values: list
    sets: dict = field(default_factory=dict)


@dataclass
class ReportPlan:
    gos: list[str]
    seeds: list[int]
    epochs: int
    variants: list[str]
    levers: list[Lever]
    lever_go: str
    batch_size: int = 32
    threads: int = 2
    simulated_n: int = 20000
    quick: bool = False


def make_plan(
    gos: list[str], seeds: int, epochs: int | None, quick: bool, threads: int = 2
) -> ReportPlan:
    """Defaults: 80 epochs x 3 seeds x 7 variants x 2 GO versions, levers on the first GO."""
    if epochs is None:
        epochs = 40 if quick else 80
    variants = VARIANTS
    n_seeds = 1 if quick else seeds
    levers = [
        Lever("norm", "norm", ["batch-frozen", "layer", "none"], {"bn_freeze_after": epochs // 2}),
        # running statistics = the last batch's: on a fixed batch eval mode then tracks train mode
        Lever("BN momentum", "bn_momentum", [1.0]),
        # a term no genotype of the batch reaches has zero batch variance: eval mode divides the
        # lag of its running mean by sqrt(eps); a larger eps tests that mechanism directly
        Lever("BN eps", "bn_eps", [0.01]),
        Lever("width floor", "width_floor", [40]),
        Lever("width multiplier", "width_multiplier", [0.6]),
        Lever("alpha", "alpha", [0.0]),
        Lever("alpha averaged over terms (torchcell)", "aux_reduce", ["mean"]),
        Lever("alpha decaying to 0", "alpha_decay_epochs", [epochs]),
        Lever("longer + cosine LR", "epochs", [2 * epochs], {"scheduler": "cosine"}),
    ]
    return ReportPlan(
        gos=gos,
        seeds=list(range(n_seeds)),
        epochs=epochs,
        variants=variants,
        levers=levers,
        lever_go=gos[0],
        threads=threads,
        simulated_n=5000 if quick else 20000,
        quick=quick,
    )
