#!/usr/bin/env bash
# Cancel the jobs of the private SLURM started by scripts/start-slurm.sh and stop its daemons
# (by their pid files; munged too if start-slurm.sh started it).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
exec "${PYTHON:-$here/.venv/bin/python}" -m dcellx.scale.localslurm stop --dir "${1:-/tmp/dcellx-slurm}"
