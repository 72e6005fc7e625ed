"""The named builds shipped with dcellx (issue 23): each equals a fresh compile of the real raw
files, serves its recipe when those files cannot be had here, and never serves a changed recipe."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcellx.errors import DataFileMissing
from dcellx.io import registry
from dcellx.ontology.build import load_ontology
from dcellx.ontology.compiled import CompiledOntology
from dcellx.ontology.embedded import BUILD_DIR, build_path, read_manifest
from dcellx.ontology.recipe import RECIPE_DIR
from tests.conftest import compiled

NAMES = sorted(p.stem for p in RECIPE_DIR.glob("*.toml"))


@pytest.fixture
def nothing_beside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A machine with the package alone: no mirror, an empty cache, no network."""
    monkeypatch.delenv("DCELLX_MIRROR", raising=False)
    monkeypatch.setenv("DCELLX_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DCELLX_OFFLINE", "1")
    return tmp_path / "cache"


def test_every_shipped_recipe_has_a_build() -> None:
    assert NAMES == sorted(read_manifest()) == sorted(p.stem for p in BUILD_DIR.glob("*.npz"))
    assert {"2017", "2018", "latest", "dna-repair", "torchcell-2017", "torchcell-latest"} <= set(
        NAMES
    )


@pytest.mark.parametrize("name", NAMES)
def test_recompiling_the_raw_files_gives_the_shipped_hash(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DCELLX_OFFLINE", "1")  # `latest`: its pinned fallback files, as shipped
    fresh = compiled(name)  # from the mirror's raw files, never the cache of compiled builds
    assert fresh.meta["served_by"]["source"] == "compiled"
    shipped = CompiledOntology.load(build_path(name))
    entry = read_manifest()[name]
    assert fresh.content_hash == shipped.content_hash == entry["content_hash"]
    assert (fresh.term_names, fresh.strata.tolist()) == (
        shipped.term_names,
        shipped.strata.tolist(),
    )
    assert (fresh.num_terms, fresh.num_genes, fresh.gene_term.shape[1]) == (
        entry["terms"],
        entry["genes"],
        entry["annotations"],
    )
    # the raw files it names are the registered, pinned ones (the offline fallback for `latest`)
    for source, raw in entry["raw_files"].items():
        pinned = (
            registry.REGISTRY[source].sha256
            or registry.REGISTRY[registry.REGISTRY[source].offline_fallback or source].sha256
        )
        assert raw["sha256"] == pinned, source
    # compact: structure only, a few hundred KB at most, no path of the machine that built it
    assert build_path(name).stat().st_size < 300_000
    assert "/shared/" not in str(shipped.meta) and "served_by" not in shipped.meta


@pytest.mark.parametrize("name", NAMES)
def test_the_shipped_build_serves_a_machine_with_nothing_beside(
    name: str, nothing_beside: Path
) -> None:
    onto = load_ontology(name)
    assert onto.meta["served_by"]["source"] == "embedded"
    assert "raw files not available here" in onto.meta["served_by"]["detail"]
    assert onto.content_hash == read_manifest()[name]["content_hash"]
    assert not (nothing_beside / "ontologies").exists()  # nothing compiled, nothing cached


def test_a_changed_recipe_is_never_served_by_the_shipped_build(nothing_beside: Path) -> None:
    with pytest.raises(DataFileMissing, match="'go-2019-01-27' not found.*only unchanged"):
        load_ontology("2017", min_genes=5)


def test_raw_files_win_over_the_shipped_build(isolated_cache: Path) -> None:
    first = load_ontology("dna-repair")  # the mirror is set (tests/conftest.py)
    assert first.meta["served_by"]["source"] == "compiled"
    again = load_ontology("dna-repair")
    assert again.meta["served_by"]["source"] == "cache"
    assert first.content_hash == again.content_hash


def test_the_shipped_genotype_files_serve_with_their_pinned_bytes(nothing_beside: Path) -> None:
    for name in ("dcell-dna-repair-train", "dcell-dna-repair-test"):
        assert registry.source_of(name) == "embedded"
        path = registry.fetch(name)
        assert path.parent == registry.EMBEDDED_DIR
        assert registry.sha256_file(path) == registry.REGISTRY[name].sha256
    # the larger files keep the cache -> mirror -> download path
    assert registry.source_of("dcell-dna-repair-model") is None
    with pytest.raises(DataFileMissing, match="dcell-dna-repair-model"):
        registry.fetch("dcell-dna-repair-model")


def test_every_raw_file_has_an_upstream_or_says_why_not() -> None:
    for entry in registry.REGISTRY.values():
        assert (entry.url is None) == (entry.no_upstream is not None), entry.name
        if entry.member is not None:
            assert entry.archive_sha256 and entry.sha256, entry.name
            assert entry.gzip_member == (entry.content_sha256 is not None), entry.name
