"""Options shared by several commands (ontology selection), parsed once and passed through."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

GoOpt = Annotated[
    str,
    typer.Option("--go", help="Ontology recipe: 2017, 2018, latest, dna-repair, or a .toml path."),
]
OboOpt = Annotated[
    Path | None, typer.Option("--obo", help="Override the recipe's ontology file (OBO).")
]
GafOpt = Annotated[
    Path | None,
    typer.Option("--gaf", "--annotations", help="Override the recipe's annotation file (GAF/TSV)."),
]
DateCutoffOpt = Annotated[
    str | None,
    typer.Option("--date-cutoff", help="Keep annotations dated on or before YYYY-MM-DD."),
]
MinGenesOpt = Annotated[
    int | None, typer.Option("--min-genes", help="Containment filter: keep terms with >= n genes.")
]
UniverseOpt = Annotated[
    str | None,
    typer.Option(
        "--universe",
        help="Containment universe / input genes: annotated, a gene-list file, dataset:<name>.",
    ),
]


def ontology_overrides(
    obo: Path | None,
    gaf: Path | None,
    date_cutoff: str | None,
    min_genes: int | None,
    universe: str | None,
) -> dict[str, object]:
    """Collect the recipe overrides a command received (``None`` = keep the recipe's)."""
    return {
        "obo": obo,
        "annotations": gaf,
        "date_cutoff": date_cutoff,
        "min_genes": min_genes,
        "universe": universe,
    }
