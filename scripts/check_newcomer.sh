#!/usr/bin/env bash
# The newcomer's path (part of `make test`): the README's main job run the way a user with nothing
# beside the package runs it -- no DCELLX_MIRROR, an empty cache, from a folder outside the
# repository -- shortened by --epochs. The ontology comes from the build shipped with dcellx and
# the genotypes from the package's own copy of the DCell data; a run that needs ../shared fails.
#
#   scripts/check_newcomer.sh [DCELLX]     # DCELLX: the console script (default .venv/bin/dcellx)
#
# `--go 2017` runs with downloads allowed (nothing it needs is downloadable: it must not try);
# `--go dna-repair` offline (its topology file is downloadable, and CI has no network).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
given=${1:-$here/.venv/bin/dcellx}
dcellx=$(cd "$(dirname "$given")" && pwd)/$(basename "$given")  # absolute: the job runs elsewhere
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dcellx-newcomer.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

job() {  # job NAME ENV... -- ARGS...: one run of the main job; its verdict line must be printed
  local name=$1 start=$SECONDS out
  shift
  if ! out=$(env -u DCELLX_MIRROR DCELLX_CACHE="$tmp/cache-$name" "$@" 2>&1); then
    echo "$out" | tail -20
    echo "check_newcomer: \`$*\` failed with nothing beside the package"
    exit 1
  fi
  echo "$out" | grep -q '^verdict: ' || { echo "$out"; echo "check_newcomer: no verdict"; exit 1; }
  echo "check_newcomer: $name: $(echo "$out" | grep -c ' epoch [0-9]*/') epochs in $((SECONDS - start)) s;" \
    "$(echo "$out" | grep '^verdict: ' | cut -c1-90)"
}

job 2017 "$dcellx" overfit --go 2017 --epochs 2 --threads 2 --runs-dir "$tmp/runs"
job dna-repair DCELLX_OFFLINE=1 "$dcellx" overfit --go dna-repair --epochs 2 --threads 2 \
  --runs-dir "$tmp/runs"
# every named build answers `ontology stats` from the package alone
for recipe in "$here"/ontologies/*.toml; do
  go=$(basename "$recipe" .toml)
  env -u DCELLX_MIRROR DCELLX_CACHE="$tmp/cache-stats" DCELLX_OFFLINE=1 \
    "$dcellx" ontology stats --go "$go" --json | grep -q '"source": "embedded"' \
    || { echo "check_newcomer: ontology stats --go $go not served by the shipped build"; exit 1; }
done
echo "check_newcomer: $dcellx runs the main job with nothing beside it"
