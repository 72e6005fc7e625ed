# dcellx developer entry points. `make setup` then `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Offline mirror of the real data (CI and tests); override to point elsewhere.
export DCELLX_MIRROR ?= $(abspath ../shared/data)

.PHONY: setup setup-slurm lint test bench format clean embedded gpu-wheels

setup:
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch pinned here (pyproject.toml declares a range for users): 2.13.0 CPU installs from local
	# disk and the range is then met, so the editable install keeps it; a looser pin here would
	# pull a CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test]'

# A real single-node SLURM for tests/scale and for trying `dcellx slurm` (root + apt-get):
# installs the packages; scripts/start-slurm.sh / stop-slurm.sh run it (the tests start their own).
setup-slurm:
	$(BIN)/python -m dcellx.scale.localslurm install

lint:
	$(BIN)/ruff check dcellx cli tests benchmarks scripts setup.py
	$(BIN)/ruff format --check dcellx cli tests benchmarks scripts setup.py

format:
	$(BIN)/ruff check --fix dcellx cli tests benchmarks scripts setup.py
	$(BIN)/ruff format dcellx cli tests benchmarks scripts setup.py

# check_layers: the import layering and module size; check_newcomer: the README's main job with
# nothing beside the clone (no mirror, empty cache); check_wheel: a plain wheel install (not
# editable) has the CLI, every module, the recipes and their builds, and runs the same.
test: lint
	$(BIN)/python scripts/check_layers.py
	scripts/check_newcomer.sh $(BIN)/dcellx
	PYTHON=$(abspath $(BIN))/python scripts/check_wheel.sh
	$(BIN)/pytest -q

# The named ontology builds shipped in the package, compiled again from the raw files (the mirror).
embedded:
	$(BIN)/python scripts/embed_builds.py

bench:
	$(BIN)/python benchmarks/bench_ontology.py

# The wheels scripts/gpu_check.sh installs on a GPU machine that lacks them (.gpu-wheels/, ignored):
# carry that folder with the tree. Needs pip's index (network or a local mirror).
gpu-wheels:
	scripts/gpu_check.sh --fetch-wheels

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
