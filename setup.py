"""Package layout only; everything else is in pyproject.toml.

Installs every package under dcellx/ (found, so a new subpackage needs no edit here), the folder
cli/ under our own name ``dcellx_cli`` (a top-level ``cli`` would collide with any other package of
that name), and as package data (a plain ``pip install .`` has no repository around it) the
ontology recipes (``ontologies/*.toml``, installed as ``dcellx/ontology/recipes``), their builds
(``dcellx/ontology/builds/``) and the small DCell genotype files (``dcellx/io/embedded/``).
``scripts/check_wheel.sh`` (run by ``make test``) installs the built wheel into a fresh venv and
checks that all of this is there.
"""

from setuptools import find_packages, setup

setup(
    # dcellx.ontology.recipes is a data folder (no __init__.py); listing it as a (namespace) package
    # is how setuptools wants package data in a folder of its own.
    packages=[
        *find_packages(include=["dcellx", "dcellx.*"]),
        "dcellx.ontology.recipes",
        "dcellx.ontology.builds",
        "dcellx.io.embedded",
        "dcellx_cli",
    ],
    # The named recipes live at the top level (ontologies/, where users read and copy them) and
    # install as package data under dcellx/ontology/recipes.
    package_dir={"dcellx_cli": "cli", "dcellx.ontology.recipes": "ontologies"},
    package_data={
        "dcellx.ontology.recipes": ["*.toml"],
        "dcellx.ontology.builds": ["*.npz", "MANIFEST.json"],
        "dcellx.io.embedded": ["*.txt", "LICENSE-*"],
    },
)
