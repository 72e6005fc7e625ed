"""The named ontology builds shipped inside the package (``dcellx/ontology/builds/<name>.npz``).

Each is the compiled build of one shipped recipe, made by dcellx's own compiler from the pinned
real files (``scripts/embed_builds.py``, ``make embedded``): structure only (term ids and names,
edges, gene ids, incidences, strata, the load record and the content hash), compressed. It serves
a recipe when the recipe's raw files cannot be had here (no cache, no mirror, no download): the
main job then runs on a machine with nothing beside the package. A build serves only the recipe
it was compiled from, field for field; an override (``--min-genes``, ``--obo``, ...) needs the raw
files. ``tests/ontology/test_embedded.py`` recompiles every recipe from the raw files and asserts
the same content hash, so the shipped builds cannot drift from the compiler.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from dcellx.ontology.compiled import CompiledOntology
from dcellx.ontology.recipe import Recipe

BUILD_DIR = Path(__file__).resolve().parent / "builds"
MANIFEST = BUILD_DIR / "MANIFEST.json"

# Recipe fields that do not change what compiles (recorded, never compared).
_NOT_COMPILED = ("base_dir", "description", "published", "resolved_inputs")


def recipe_key(recipe: dict[str, Any] | Recipe) -> dict[str, Any]:
    """The fields of a recipe that decide its compiled build."""
    data = recipe.model_dump() if isinstance(recipe, Recipe) else dict(recipe)
    return {k: v for k, v in data.items() if k not in _NOT_COMPILED}


def build_path(name: str) -> Path:
    return BUILD_DIR / f"{name}.npz"


def embedded_build(recipe: Recipe) -> CompiledOntology | None:
    """The shipped build compiled from exactly this recipe, or None (no build of that name, or
    the recipe was changed: another file, filter or universe)."""
    path = build_path(recipe.name)
    if not path.is_file():
        return None
    onto = CompiledOntology.load(path)
    if recipe_key(onto.meta.get("recipe") or {}) != recipe_key(recipe):
        return None
    return onto


def embeddable(onto: CompiledOntology) -> CompiledOntology:
    """A copy of a freshly compiled build fit to ship: input paths of this machine become file
    names (in the load record's ``file:line`` references too), and what differs per machine or
    per use (compile time, where it was served from) goes."""
    inputs = [v for v in (onto.meta.get("inputs") or {}).values() if v]
    inputs.append(((onto.meta.get("load") or {}).get("annotations") or {}).get("id_map") or "")
    text = json.dumps(onto.meta)
    for folder in {str(Path(v).parent) for v in inputs if Path(v).is_absolute()}:
        text = text.replace(json.dumps(folder + "/")[1:-1], "")
    meta = json.loads(text)
    meta.get("recipe", {}).pop("base_dir", None)
    for key in ("compile_seconds", "served_by"):
        meta.pop(key, None)
    return dataclasses.replace(onto, meta=meta)


def read_manifest() -> dict[str, Any]:
    """``builds/MANIFEST.json``: per build its content hash, sizes and the raw files (registered
    names and sha256) it was compiled from."""
    try:
        return json.loads(MANIFEST.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
