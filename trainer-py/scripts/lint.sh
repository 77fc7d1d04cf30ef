#!/usr/bin/env bash
# Lint and format-check trainer-py with the ruff pinned in requirements-dev.txt. Ruff lives in a small venv outside the clone,
# keyed by the hash of requirements-dev.txt, so only the first run on a machine installs it (a few seconds).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
req="$here/requirements-dev.txt"
hash="$(sha256sum "$req" | cut -c1-16)"
venv="${SFMED_LINT_VENV:-${HOME}/.cache/sfmed/lint-venv-${hash}}"
if [[ ! -f "$venv/.sfmed-ok" ]]; then
  mkdir -p "$(dirname "$venv")"
  exec 9>"$venv.lock"
  flock 9
  if [[ ! -f "$venv/.sfmed-ok" ]]; then
    rm -rf "$venv"
    "${SFMED_PYTHON:-python3}" -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
    touch "$venv/.sfmed-ok"
  fi
fi
cd "$here"
"$venv/bin/ruff" check --no-cache "$@" .
"$venv/bin/ruff" format --check --no-cache .
