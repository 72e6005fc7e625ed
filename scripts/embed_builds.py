"""Regenerate the named ontology builds shipped with dcellx (``make embedded``).

Compiles every built-in recipe (``ontologies/*.toml``) from its raw files -- found as
always: cache, ``DCELLX_MIRROR``, download -- with dcellx's own compiler, never from the cache of
compiled builds, offline (``latest`` from its pinned fallback files), and writes
``dcellx/ontology/builds/<name>.npz`` plus ``MANIFEST.json`` (content hash, sizes, and the sha256
of every raw file each build came from). Nothing of the raw files is
written into the package. ``tests/ontology/test_embedded.py`` checks that recompiling gives the
same content hashes.

    DCELLX_MIRROR=../shared/data .venv/bin/python scripts/embed_builds.py [NAME ...]
"""

from __future__ import annotations

import json
import os
import sys

from dcellx.fileio import atomic_write
from dcellx.io import registry
from dcellx.ontology.build import build_ontology, raw_inputs_missing
from dcellx.ontology.embedded import MANIFEST, build_path, embeddable, read_manifest
from dcellx.ontology.recipe import RECIPE_DIR, load_recipe


def main(names: list[str]) -> int:
    names = names or sorted(p.stem for p in RECIPE_DIR.glob("*.toml"))
    manifest = read_manifest()
    for name in names:
        recipe = load_recipe(name)
        missing = raw_inputs_missing(recipe)
        if missing:
            print(f"{name}: raw files not available ({', '.join(missing)}); set DCELLX_MIRROR")
            return 2
        onto = embeddable(build_ontology(recipe, use_cache=False))
        path = build_path(name)
        onto.save(path)
        raw = {
            key: source
            for key in ("ontology", "annotations", "id_map", "universe")
            if (source := getattr(recipe, key)) in registry.REGISTRY
        }
        if recipe.ontology_format != "obo":
            raw.pop("id_map", None)  # only GAF/TSV annotations are resolved through the id map
        manifest[name] = {
            "content_hash": onto.content_hash,
            "terms": onto.num_terms,
            "genes": onto.num_genes,
            "annotations": int(onto.gene_term.shape[1]),
            "strata": onto.num_strata,
            "bytes": path.stat().st_size,
            "raw_files": {source: _raw_file(source) for source in raw.values()},
        }
        print(f"{name}: {onto.content_hash[:12]}, {path.stat().st_size:,} bytes")
    atomic_write(MANIFEST, json.dumps(dict(sorted(manifest.items())), indent=2) + "\n")
    return 0


def _raw_file(source: str) -> dict[str, str]:
    path = registry.fetch_noted(source)[0]  # `latest`: its pinned offline fallback
    return {"file": path.name, "sha256": registry.sha256_file(path)}


if __name__ == "__main__":
    # Offline always: `latest` ships as built from its pinned fallback files, never from a
    # current download that would differ from one regeneration to the next.
    os.environ["DCELLX_OFFLINE"] = "1"
    sys.exit(main(sys.argv[1:]))
