"""``--go NAME`` (issue 28 item 4): a user's folder ($DCELLX_ONTOLOGIES), then ./ontologies/, then
the built-in recipes at the repository's top level; ``--go``'s help lists every named build."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcellx.errors import ConfigError
from dcellx.ontology.build import load_ontology
from dcellx.ontology.recipe import RECIPE_DIR, USER_RECIPES_ENV, load_recipe, named_recipes

BUILT_IN = {"2017", "2018", "latest", "dna-repair", "torchcell-2017", "torchcell-latest"}


def _own_dna_repair(folder: Path, min_genes: str = "") -> Path:
    """The built-in dna-repair recipe under another name, its topology given by registered name."""
    folder.mkdir(parents=True, exist_ok=True)
    text = (RECIPE_DIR / "dna-repair.toml").read_text().replace('name = "dna-repair"', "")
    path = folder / "my-repair.toml"
    path.write_text('name = "my-repair"\n' + text + min_genes)
    return path


def test_every_built_in_recipe_is_named_and_commented() -> None:
    assert BUILT_IN <= set(named_recipes())
    for name in BUILT_IN:
        lines = (RECIPE_DIR / f"{name}.toml").read_text().splitlines()
        assert lines[0].startswith("# "), name  # readable: each says what it builds


def test_a_user_folder_wins_over_the_working_directory_and_the_built_ins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_cache: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="unknown ontology recipe 'my-repair'"):
        load_recipe("my-repair")
    in_cwd = _own_dna_repair(tmp_path / "ontologies")
    assert named_recipes()["my-repair"] == in_cwd
    user = _own_dna_repair(tmp_path / "mine")
    monkeypatch.setenv(USER_RECIPES_ENV, str(tmp_path / "mine"))
    assert named_recipes()["my-repair"] == user
    recipe = load_recipe("my-repair")
    assert recipe.base_dir == str(user.parent.resolve())
    onto = load_ontology("my-repair")  # compiles from the registered topology, like dna-repair
    assert onto.content_hash == load_ontology("dna-repair").content_hash
    # a folder of the user's that shadows a built-in name wins too, and says where it came from
    (tmp_path / "mine" / "2017.toml").write_text(
        (tmp_path / "mine" / "my-repair.toml").read_text().replace("my-repair", "2017")
    )
    assert named_recipes()["2017"] == tmp_path / "mine" / "2017.toml"
    assert load_recipe("2017").base_dir == str((tmp_path / "mine").resolve())


def test_go_help_lists_every_named_build() -> None:
    from dcellx_cli.common import _GO

    for name in BUILT_IN:
        assert name in _GO.help
