#!/usr/bin/env bash
# The fake trainer needs no packages: its "environment" is a folder whose bin/python is the base Python.
set -euo pipefail
venv="${SFMED_TRAINER_VENV:-${TMPDIR:-/tmp}/sfmed-fake-trainer-env}"
mkdir -p "$venv/bin"
ln -sfn "${SFMED_PYTHON:-$(command -v python3)}" "$venv/bin/python"
echo "$venv"
