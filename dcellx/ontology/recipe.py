"""Ontology recipes: which GO release, which annotations, which filters (TOML files).

``--go NAME`` finds ``NAME.toml`` in, first to last: the folders of ``$DCELLX_ONTOLOGIES``
(``os.pathsep``-separated: a user's own recipes), ``./ontologies/`` of the working directory, then
the built-in recipes (``RECIPE_DIR``: the repository's top-level ``ontologies/``, installed as
package data ``dcellx/ontology/recipes`` so a plain ``pip install`` has them). ``--go
path/to/recipe.toml`` reads that file. Sources are registered data names (see ``dcellx data
list``) or paths, relative to the recipe.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from dcellx.errors import ConfigError, InputError, config_error, validation_message
from dcellx.fileio import decode_utf8, read_maybe_gzip
from dcellx.ontology.filters import FILTERS, FilterSettings

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI (a dependency only there)
    import tomli as tomllib

# The built-in recipes: package data beside this module in an installed wheel (setup.py maps the
# top-level ontologies/ there); in a source checkout (editable install) that folder itself.
_INSTALLED = Path(__file__).resolve().parent / "recipes"
_CHECKOUT = Path(__file__).resolve().parents[2] / "ontologies"
RECIPE_DIR = _INSTALLED if any(_INSTALLED.glob("*.toml")) else _CHECKOUT
USER_RECIPES_ENV = "DCELLX_ONTOLOGIES"


def recipe_dirs() -> list[Path]:
    """Where ``--go NAME`` looks, first to last (see the module docstring)."""
    user = [Path(d).expanduser() for d in os.environ.get(USER_RECIPES_ENV, "").split(os.pathsep)]
    dirs = [*(d for d in user if str(d) not in ("", ".")), Path.cwd() / "ontologies", RECIPE_DIR]
    unique: list[Path] = []
    for d in dirs:
        if d.is_dir() and all(d.resolve() != u.resolve() for u in unique):
            unique.append(d)
    return unique


def named_recipes() -> dict[str, Path]:
    """Every recipe ``--go NAME`` can name, with the file that wins for that name."""
    found: dict[str, Path] = {}
    for folder in recipe_dirs():
        for path in sorted(folder.glob("*.toml")):
            found.setdefault(path.stem, path)
    return dict(sorted(found.items()))


class FilterConfig(BaseModel):
    """DCell's filters; the defaults are the paper's."""

    model_config = ConfigDict(extra="forbid")

    order: list[str] = ["evidence", "containment", "redundancy"]
    date_cutoff: str | None = None
    exclude_evidence: list[str] = ["IGI"]
    drop_nd: bool = False
    min_genes: int = Field(6, ge=0)

    @field_validator("order")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        bad = [s for s in v if s not in FILTERS]
        if bad:
            raise ValueError(f"unknown filter stage(s) {bad}; choose from {list(FILTERS)}")
        return v

    @field_validator("date_cutoff")
    @classmethod
    def _date(cls, v: str | None) -> str | None:
        if v is not None:
            digits = v.replace("-", "")
            if len(digits) != 8 or not digits.isdigit():
                raise ValueError(f"date_cutoff must be YYYY-MM-DD, got {v!r}")
        return v

    def settings(self) -> FilterSettings:
        return FilterSettings(
            order=tuple(self.order),
            date_cutoff=self.date_cutoff,
            exclude_evidence=tuple(self.exclude_evidence),
            drop_nd=self.drop_nd,
            min_genes=self.min_genes,
        )


class Recipe(BaseModel):
    """A fully resolved ontology recipe (recorded verbatim in every run's config)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    ontology: str
    ontology_format: Literal["obo", "topology", "three-column"] = "obo"
    annotations: str | None = None
    annotations_format: Literal["auto", "gaf", "tsv"] = "auto"
    relations: list[str] = ["is_a", "part_of"]
    namespaces: list[str] = ["biological_process", "molecular_function", "cellular_component"]
    obsolete: Literal["replaced_by", "consider", "drop"] = "replaced_by"
    # Containment universe and model input genes: "annotated" (every annotated gene), "id-map"
    # (every systematic name of ``id_map``: a genome-wide vocabulary, recorded in the compiled
    # ontology), a registered gene list, a gene-list file, or "dataset:<name or path>".
    universe: str = "annotated"
    # SGD ID / symbol -> ORF table used to resolve GAF rows (registered name or path).
    id_map: str = "yeast-symbols"
    filters: FilterConfig = FilterConfig()
    # Counts someone published for the build this recipe rebuilds (shown beside ours by
    # ``ontology stats``); not used to compile.
    published: dict[str, int | str] = {}
    base_dir: str = ""  # where relative paths resolve; set by load_recipe


def load_recipe(go: str) -> Recipe:
    """Resolve ``--go``: a recipe's name (``named_recipes``) or a path to a TOML recipe."""
    path = Path(go)
    if not (path.suffix == ".toml" or path.exists()):
        named = named_recipes()
        if go not in named:
            where = ", ".join(str(d) for d in recipe_dirs())
            raise ConfigError(
                f"unknown ontology recipe {go!r}; known: {', '.join(named)} (looked in {where})"
            )
        path = named[go]
    if not path.exists():
        raise InputError(path, None, "recipe file not found")
    try:
        data = tomllib.loads(decode_utf8(path, read_maybe_gzip(path)))  # bounded, regular only
    except tomllib.TOMLDecodeError as exc:
        raise InputError(path, None, f"invalid TOML: {exc}") from exc
    data.setdefault("base_dir", str(path.parent.resolve()))
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise InputError(path, None, validation_message(exc)) from None


def with_overrides(recipe: Recipe, **overrides: object) -> Recipe:
    """Apply CLI overrides (``obo``, ``annotations``, ``date_cutoff``, ``min_genes``,
    ``universe``, ``drop_nd``); ``None`` means keep the recipe's value."""
    data = recipe.model_dump()
    mapping = {"obo": ("ontology",), "annotations": ("annotations",), "universe": ("universe",)}
    for key, value in overrides.items():
        if value is None:
            continue
        if key in mapping:
            data[mapping[key][0]] = str(value)
            data["base_dir"] = str(Path.cwd())
        elif key in ("date_cutoff", "min_genes", "drop_nd", "exclude_evidence", "order"):
            data["filters"][key] = value
        else:
            raise ConfigError(f"unknown recipe override {key!r}")
    if overrides.get("obo") is not None and overrides.get("annotations") is None:
        # keep annotations resolvable from the recipe's own directory
        data["annotations"] = _absolute(recipe.annotations, recipe.base_dir)
    if overrides.get("annotations") is not None and overrides.get("obo") is None:
        data["ontology"] = _absolute(recipe.ontology, recipe.base_dir)
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc) from None


def _absolute(source: str | None, base_dir: str) -> str | None:
    if source is None:
        return None
    p = Path(base_dir) / source
    return str(p) if p.exists() else source
