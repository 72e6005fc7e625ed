#!/usr/bin/env bash
# A plain (non-editable) install works: build the wheel, install it into a fresh venv, and run
# `dcellx ontology stats --go dna-repair` from outside the repository (part of `make test`).
#
# Checks that the wheel has every module of dcellx/ and cli/ (as dcellx_cli, no top-level `cli`),
# the built-in recipes (ontologies/*.toml, as dcellx/ontology/recipes), their builds and the
# console script, that the installed package runs the main job with nothing beside it
# (scripts/check_newcomer.sh), and that the wheel stays under 3 MiB. Nothing is
# downloaded: the wheel is built from a clean copy of the sources without build isolation
# (setuptools comes with `.[test]`) and installed with --no-deps; the fresh venv sees .venv's
# dependencies through a .pth line (a path line only: .venv's own .pth files, such as the editable
# install's finder, are not run).
#
#   scripts/check_wheel.sh            # needs DCELLX_MIRROR (the Makefile exports it)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-$here/.venv/bin/python}
: "${DCELLX_MIRROR:?set DCELLX_MIRROR to the offline data mirror (make test exports it)}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dcellx-wheel.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Build from a clean copy of what the wheel is made of: setuptools reuses an in-tree build/, where a
# stale file would hide a module or recipe the package configuration forgot.
mkdir "$tmp/src"
(cd "$here" && tar -cf - --exclude=__pycache__ pyproject.toml setup.py README.md dcellx cli ontologies) \
  | tar -xf - -C "$tmp/src"
"$py" -m pip wheel -q --no-deps --no-build-isolation "$tmp/src" -w "$tmp/dist" >"$tmp/build.log" 2>&1 \
  || { cat "$tmp/build.log"; exit 1; }
wheel=$(ls "$tmp"/dist/dcellx-*.whl)

"$py" -m venv --without-pip "$tmp/venv"
"$py" -m pip --python "$tmp/venv/bin/python" install -q --no-deps --no-index "$wheel"
deps=$("$py" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
site=$("$tmp/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
echo "$deps" >"$site/_dcellx_deps_from_dev_venv.pth"

# Every source module is in the wheel (a subpackage setup.py's discovery missed would show here).
missing=$(cd "$here" && find dcellx cli -name '*.py' -not -path '*/__pycache__/*' | sed 's|^cli/|dcellx_cli/|' \
  | while read -r m; do [ -f "$site/$m" ] || echo "$m"; done)
[ -z "$missing" ] || { echo "check_wheel: missing from the wheel:"; echo "$missing"; exit 1; }

cd "$tmp"  # away from the repository: nothing may come from the source tree
"$tmp/venv/bin/python" - "$site" <<'PY'
import importlib.util, sys
from pathlib import Path

import dcellx, dcellx_cli
from dcellx.ontology.recipe import RECIPE_DIR

site = Path(sys.argv[1]).resolve()
for mod in (dcellx, dcellx_cli):
    assert Path(mod.__file__).resolve().is_relative_to(site), f"{mod.__name__} from {mod.__file__}"
assert importlib.util.find_spec("cli") is None, "a top-level package `cli` is installed"
names = sorted(p.stem for p in RECIPE_DIR.glob("*.toml"))
assert Path(RECIPE_DIR).resolve().is_relative_to(site) and "dna-repair" in names, (RECIPE_DIR, names)
PY
out=$(DCELLX_OFFLINE=1 DCELLX_CACHE="$tmp/cache" "$tmp/venv/bin/dcellx" ontology stats --go dna-repair 2>&1) \
  || { echo "$out"; echo "check_wheel: \`dcellx ontology stats --go dna-repair\` failed"; exit 1; }
echo "$out" | grep -q . || { echo "check_wheel: no output from ontology stats"; exit 1; }
# The newcomer's path from the wheel: the main job with nothing beside the installed package.
"$here/scripts/check_newcomer.sh" "$tmp/venv/bin/dcellx"
# Small: the shipped builds and genotype files are a few hundred KB each, never the raw files.
size=$(stat -c %s "$wheel")
[ "$size" -lt $((3 * 1024 * 1024)) ] || { echo "check_wheel: the wheel is $size bytes (over 3 MiB)"; exit 1; }
echo "check_wheel: $(basename "$wheel") ($((size / 1024)) KiB) installs and runs (ontology stats --go dna-repair, the main job)"
