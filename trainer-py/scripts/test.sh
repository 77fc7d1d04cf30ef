#!/usr/bin/env bash
# Ensure the trainer's environment, then run its pytest suite. Extra arguments go to pytest.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
venv="$(bash "$here/scripts/ensure-env.sh" | tail -n 1)"
cd "$here"
export PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}"
# Two busy cores: keep torch from oversubscribing them.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
exec "$venv/bin/python" -m pytest -p no:cacheprovider "$@"
