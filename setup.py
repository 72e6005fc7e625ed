"""Package layout only; everything else is in pyproject.toml.

Installs every package under dcellx/ (found, so a new subpackage needs no edit here), the folder
cli/ under our own name ``dcellx_cli`` (a top-level ``cli`` would collide with any other package of
that name), and the ontology recipes as package data (``dcellx/ontology/recipes/*.toml``; a plain
``pip install .`` has no repository around it). ``scripts/check_wheel.sh`` (run by ``make test``)
installs the built wheel into a fresh venv and checks that all of this is there.
"""

from setuptools import find_packages, setup

setup(
    # dcellx.ontology.recipes is a data folder (no __init__.py); listing it as a (namespace) package
    # is how setuptools wants package data in a folder of its own.
    packages=[
        *find_packages(include=["dcellx", "dcellx.*"]),
        "dcellx.ontology.recipes",
        "dcellx_cli",
    ],
    package_dir={"dcellx_cli": "cli"},
    package_data={"dcellx.ontology.recipes": ["*.toml"]},
)
