#!/usr/bin/env bash
# Start a private single-node SLURM (munged, slurmctld, slurmd) for trying `dcellx slurm`.
# Needs root; installs slurmctld/slurmd/slurm-client/munge with apt-get if they are missing.
# Nothing goes to /etc/slurm: config, state and logs live in DIR (default /tmp/dcellx-slurm).
#
#   eval "$(scripts/start-slurm.sh [DIR])"    # starts it and exports SLURM_CONF
#   sinfo; dcellx slurm compare ... --submit
#   scripts/stop-slurm.sh [DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
exec "${PYTHON:-$here/.venv/bin/python}" -m dcellx.scale.localslurm start --dir "${1:-/tmp/dcellx-slurm}"
