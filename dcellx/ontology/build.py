"""Recipe -> ``CompiledOntology``, with a content-addressed cache.

The cache key covers the resolved recipe, the sha256 of every input file and the compiled format,
so editing a recipe or swapping a GO release never returns a stale ontology.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from dcellx.errors import ConfigError, DataFileMissing, InputError, warn
from dcellx.fileio import FileWriteError, read_text, remove_stale_temps
from dcellx.io import registry
from dcellx.ontology.annotations import read_annotations
from dcellx.ontology.compiled import FORMAT_VERSION, CompiledOntology, compile_graph
from dcellx.ontology.embedded import build_path, embedded_build
from dcellx.ontology.filters import apply_filters, report
from dcellx.ontology.formats import read_three_column
from dcellx.ontology.graph import graph_from_release
from dcellx.ontology.idmap import GeneIdMap, is_systematic_name, read_id_map
from dcellx.ontology.obo import read_obo
from dcellx.ontology.recipe import Recipe
from dcellx.ontology.topology import read_topology

# Reads the genes of a genotype dataset named by a ``dataset:<name>`` universe.
DatasetGenes = Callable[[str], set[str]]


def resolve_source(source: str, base_dir: str, notes: list[str] | None = None) -> Path:
    """A registered data name, a path relative to the recipe, or any existing path. A registered
    file replaced by its offline fallback adds a line to ``notes``."""
    if source in registry.REGISTRY:
        path, note = registry.fetch_noted(source)
        if note and notes is not None:
            notes.append(note)
        return path
    rel = Path(base_dir) / source
    if rel.exists():
        return rel
    return registry.resolve(source)


def read_gene_list(path: Path) -> set[str]:
    """One gene per line (first whitespace field); '#' comments and blank lines skipped."""
    genes = set()
    for line in read_text(path).splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            genes.add(line.split()[0])
    if not genes:
        raise InputError(path, None, "gene list is empty")
    return genes


def resolve_id_map(recipe: Recipe) -> GeneIdMap:
    return read_id_map(resolve_source(recipe.id_map, recipe.base_dir))


def resolve_universe(
    recipe: Recipe, dataset_genes: DatasetGenes | None = None
) -> tuple[set[str] | None, str]:
    """The containment universe (also the model's input genes) and a description of it.

    ``dataset_genes`` reads a ``dataset:<name>`` universe: genotype data is a higher layer, so
    the caller passes it in (``dcellx.data.universe.load_ontology_with_datasets`` does).
    """
    u = recipe.universe
    if u == "annotated":
        return None, "annotated"
    if u == "id-map":
        return set(vocabulary_of(resolve_id_map(recipe))), f"id-map ({recipe.id_map})"
    if u.startswith("dataset:"):
        if dataset_genes is None:
            raise ConfigError(
                f"ontology recipe {recipe.name!r}: universe {u!r} names a genotype dataset, "
                "which only the data layer reads: load it with "
                "dcellx.data.universe.load_ontology_with_datasets"
            )
        return dataset_genes(u[len("dataset:") :]), u
    path = resolve_source(u, recipe.base_dir)
    return read_gene_list(path), u


def vocabulary_of(id_map: GeneIdMap) -> list[str]:
    """Every systematic gene name of the id map, sorted: a genome-wide gene vocabulary."""
    return [g for g in id_map.orfs if is_systematic_name(g)]


# Bumped when a reader's output changes for the same bytes (2: GAF genes resolved by rule, not
# "first alias"), so a cache built by older code is never returned.
READER_VERSION = 2


def cache_key(recipe: Recipe, inputs: list[Path]) -> str:
    h = hashlib.sha256()
    h.update(f"v{FORMAT_VERSION}.r{READER_VERSION}".encode())
    h.update(
        json.dumps(
            recipe.model_dump(exclude={"base_dir", "description", "published"}), sort_keys=True
        ).encode()
    )
    for p in inputs:
        h.update(registry.sha256_file(p).encode())
    return h.hexdigest()


def build_ontology(
    recipe: Recipe, *, use_cache: bool = True, dataset_genes: DatasetGenes | None = None
) -> CompiledOntology:
    """Compile the recipe, or load it from the cache when inputs and recipe are unchanged.
    ``dataset_genes``: see ``resolve_universe``.

    Where the build comes from, in order: the cache, a compile of the raw files (each from the
    cache, the mirror or a download), the build shipped with dcellx for this exact recipe
    (``dcellx.ontology.embedded``) when a raw file cannot be had. ``meta["served_by"]`` says
    which one served (``config.json`` and ``ontology stats`` show it)."""
    missing = raw_inputs_missing(recipe)
    if missing and (shipped := embedded_build(recipe)) is not None:
        return _served(shipped, "embedded", f"raw files not available here: {', '.join(missing)}")
    notes: list[str] = []
    try:
        onto_path = resolve_source(recipe.ontology, recipe.base_dir, notes)
        ann_path = (
            resolve_source(recipe.annotations, recipe.base_dir, notes)
            if recipe.annotations
            else None
        )
        universe, universe_desc = resolve_universe(recipe, dataset_genes)
    except DataFileMissing as exc:  # a download that failed: the shipped build, if any
        if (shipped := embedded_build(recipe)) is not None:
            return _served(shipped, "embedded", getattr(exc, "why", str(exc)))
        if build_path(recipe.name).is_file():
            raise DataFileMissing(
                f"{exc}. The build of {recipe.name!r} shipped with dcellx serves that recipe "
                "only unchanged (no other file, filter or universe)"
            ) from None
        raise
    inputs = [onto_path] + ([ann_path] if ann_path else [])
    if universe is not None:
        inputs_key_extra = hashlib.sha256("\n".join(sorted(universe)).encode()).hexdigest()
    else:
        inputs_key_extra = "annotated"
    key = cache_key(recipe, inputs) + inputs_key_extra[:16]
    key = hashlib.sha256(key.encode()).hexdigest()[:20]
    cached = registry.cache_dir() / "ontologies" / f"{recipe.name}-{key}.npz"
    if use_cache and cached.exists():
        onto = CompiledOntology.load(cached)
        require_subsystems(recipe, onto.num_terms, onto.term_ids[onto.root], onto_path)
        return _served(onto, "cache", str(cached))  # (older dcellx may have cached a root alone)
    onto = compile_recipe(recipe, onto_path, ann_path, universe, universe_desc)
    onto.meta["recipe"]["resolved_inputs"] = {
        "ontology": onto_path.name,
        "annotations": ann_path.name if ann_path else None,
        "substitutions": notes,
    }
    if use_cache:
        remove_stale_temps(cached.parent)
        try:
            onto.save(cached)
        except FileWriteError as exc:  # a cache is an optimisation: the compile stands
            warn(f"ontology cache not written, compiled again next time: {exc}")
    return _served(onto, "compiled", ", ".join(str(p) for p in inputs))


def _served(onto: CompiledOntology, source: str, detail: str) -> CompiledOntology:
    """Record where the build came from (not saved with it: the same build serves many ways)."""
    onto.meta["served_by"] = {"source": source, "detail": detail}
    return onto


def raw_inputs_missing(recipe: Recipe) -> list[str]:
    """The recipe's raw files that cannot be had here: registered names neither cached, mirrored
    nor downloadable (``registry.source_of``), paths that do not exist. Nothing is fetched."""
    sources = [recipe.ontology, recipe.annotations]
    if recipe.ontology_format == "obo":
        sources.append(recipe.id_map)
    if recipe.universe not in ("annotated", "id-map") and ":" not in recipe.universe:
        sources.append(recipe.universe)
    missing = []
    for source in filter(None, sources):
        if source in registry.REGISTRY:
            if registry.source_of(source) is None:
                missing.append(source)
        elif not (Path(recipe.base_dir) / source).exists() and not Path(source).exists():
            missing.append(source)
    return missing


def require_subsystems(recipe: Recipe, terms: int, root: str, onto_path: Path) -> None:
    """Refuse an ontology that is its root alone: no subsystem, nothing for DCell to learn (the
    forward pass would fail on the first batch)."""
    if terms >= 2:
        return
    f = recipe.filters
    how = (
        f"after its filters ({', '.join(f.order)}; min_genes={f.min_genes})"
        if recipe.ontology_format == "obo"
        else f"in {onto_path}"
    )
    raise ConfigError(
        f"ontology recipe {recipe.name!r} leaves no term below the root {root} {how}: "
        "DCell has no subsystem to learn; lower --min-genes or choose another recipe"
    )


def compile_recipe(
    recipe: Recipe,
    onto_path: Path,
    ann_path: Path | None,
    universe: set[str] | None,
    universe_desc: str,
) -> CompiledOntology:
    """Read, filter and compile (no cache). Records per-stage counts in ``meta``."""
    t0 = time.perf_counter()
    meta: dict = {
        "recipe": recipe.model_dump(),
        "inputs": {"ontology": str(onto_path), "annotations": str(ann_path) if ann_path else None},
        "universe": universe_desc,
        "universe_size": None if universe is None else len(universe),
    }
    if recipe.ontology_format == "topology":
        graph, sizes = read_topology(onto_path)
        stages = [report("loaded", graph, "DCell topology file: already filtered")]
        meta["listed_sizes"] = sizes
    elif recipe.ontology_format == "three-column":
        graph = read_three_column(onto_path)
        stages = [report("loaded", graph, "three-column ontology file: already filtered")]
    else:
        if ann_path is None:
            raise InputError(onto_path, None, f"recipe {recipe.name!r} names no annotation file")
        release = read_obo(onto_path)
        id_map = resolve_id_map(recipe)
        table = read_annotations(ann_path, recipe.annotations_format, id_map, universe)
        graph, load = graph_from_release(
            release,
            table,
            relations=recipe.relations,
            namespaces=recipe.namespaces,
            obsolete=recipe.obsolete,
        )
        meta["load"] = {"obo": release.record(), "annotations": table.record, "mapping": vars(load)}
        graph, stages = apply_filters(graph, recipe.filters.settings(), universe)
        ns = Counter(graph.namespaces.get(t, "") for t in graph.parents)
        meta["namespaces"] = dict(sorted(ns.items()))
    meta["stages"] = [s.as_dict() for s in stages]
    require_subsystems(recipe, len(graph.parents), graph.root, onto_path)  # before the cache
    onto = compile_graph(graph, recipe.name, universe, meta)
    if recipe.universe == "id-map" and universe is not None:
        vocab = sorted(universe)
        onto.meta["vocabulary"] = {
            "source": recipe.id_map,
            "size": len(vocab),
            "without_annotation": len(vocab) - onto.num_genes,
            "genes": vocab,
        }
    onto.meta["compile_seconds"] = round(time.perf_counter() - t0, 3)
    return onto


def load_ontology(
    go: str,
    *,
    use_cache: bool = True,
    dataset_genes: DatasetGenes | None = None,
    **overrides: object,
) -> CompiledOntology:
    """``--go`` plus CLI overrides (``obo``, ``annotations``, ``date_cutoff``, ...) -> ontology.
    ``dataset_genes``: see ``resolve_universe``."""
    from dcellx.ontology.recipe import load_recipe, with_overrides

    recipe = with_overrides(load_recipe(go), **overrides)
    return build_ontology(recipe, use_cache=use_cache, dataset_genes=dataset_genes)
