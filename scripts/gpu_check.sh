#!/usr/bin/env bash
# The GPU check of issue 26: one call on a GPU machine, from a copy of this tree, writes every
# figure to ONE JSON ($OUT/gpu_check.json; OUT defaults to ./gpu-out). Steps, each with its own
# timeout under a 7.5-minute budget, so one failure loses nothing else: pytest -m gpu, the bench
# grid (paper on --go 2017, torchcell on torchcell-latest and 2017; batch 32 and 256; with and
# without --cuda-graph where bench has it), the float64 engine on the GPU against the CPU
# reference loop, two seeded --deterministic GPU runs compared bitwise, 100 overfit epochs on GPU
# against CPU, and the bucket-plan candidates timed on the GPU (scripts/gpu_check.py).
#
#   make gpu-wheels                      # here, once: .gpu-wheels/ (pydantic & co., cp310-cp313)
#   bash scripts/gpu_check.sh            # there, repository root, carrying .gpu-wheels
#   DEVICE=cpu bash scripts/gpu_check.sh --dry-run   # here: the same steps, tiny, on CPU
#
# The GPU machine's python3 holds torch (2.11, CUDA 13), numpy, scipy, pyarrow and matplotlib, not
# pydantic: pydantic, typer and rich are installed from .gpu-wheels into a private folder
# (--target, --no-index), never touching that torch; dcellx itself runs from this tree
# (PYTHONPATH, cli/ as dcellx_cli). No raw data is needed: the GO builds and the DNA-repair
# genotypes ship in the tree.
set -uo pipefail
cd "$(dirname "$0")/.."
WHEELS=.gpu-wheels
# what dcellx imports that a torch image may lack; pip resolves their dependencies from $WHEELS
REQS=("pydantic>=2.5" "typer>=0.12" "rich>=13" "tomli>=1.1; python_version < '3.11'")

if [ "${1:-}" = "--fetch-wheels" ]; then
  py=${PYTHON:-.venv/bin/python}
  mkdir -p "$WHEELS"
  for v in 3.10 3.11 3.12 3.13; do
    "$py" -m pip download -q --only-binary=:all: --python-version "$v" --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 -d "$WHEELS" "${REQS[@]}" "tomli>=1.1" || exit 1
  done
  ls "$WHEELS" | sed 's/^/  /'
  du -sh "$WHEELS"
  exit 0
fi

export OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
SITE=${GPU_CHECK_SITE:-/tmp/dcellx-gpu-site}
mkdir -p "$SITE"
log="$OUT/install.log"
: >"$log"

# 1. dcellx's pure-Python needs at the versions tested here, from the wheels, into $SITE (first on
#    PYTHONPATH): the image's own may be missing (pydantic) or older than pyproject.toml allows
echo "installing from $WHEELS: ${REQS[*]}" | tee -a "$log"
"$PY" -m pip install -q --no-index --find-links "$WHEELS" --target "$SITE" --upgrade --no-compile \
  "${REQS[@]}" >>"$log" 2>&1 \
  || echo "install from $WHEELS failed (see install.log); going on with what imports" | tee -a "$log"
# 2. dcellx from this tree: the package by PYTHONPATH, the folder cli/ under its installed name
ln -sfn "$PWD/cli" "$SITE/dcellx_cli"
export PYTHONPATH="$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
# the shipped builds and genotype files only (no mirror), a private cache
export DCELLX_MIRROR="$OUT/no-mirror" DCELLX_CACHE="$SITE/cache"

exec "$PY" scripts/gpu_check.py --device "$DEVICE" --out "$OUT" "$@"
