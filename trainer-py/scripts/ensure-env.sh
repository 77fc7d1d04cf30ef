#!/usr/bin/env bash
# Create (or reuse) the trainer's virtual environment outside the clone and print its path on the last line.
# The venv is keyed by the hash of requirements.lock, so it is built once per machine and lock version.
# Override the location with SFMED_TRAINER_VENV, the interpreter with SFMED_PYTHON.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
lock="$here/requirements.lock"
hash="$(sha256sum "$lock" | cut -c1-16)"
venv="${SFMED_TRAINER_VENV:-${HOME}/.cache/sfmed/trainer-venv-${hash}}"
marker="$venv/.sfmed-lock-$hash"

if [[ -f "$marker" ]]; then
  echo "$venv"
  exit 0
fi

py="${SFMED_PYTHON:-python3}"
"$py" -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] < (3, 13) else 1)' \
  || { echo "ensure-env: need Python 3.10-3.12, got $("$py" --version 2>&1)" >&2; exit 1; }

mkdir -p "$(dirname "$venv")"
# Serialise concurrent builds of the same venv (parallel CI steps, several shells).
exec 9>"$venv.lock"
flock 9
if [[ -f "$marker" ]]; then
  echo "$venv"
  exit 0
fi

start=$(date +%s)
tmp="$venv.tmp.$$"
rm -rf "$tmp"
echo "ensure-env: building $venv (first run on this machine; about 2 minutes, ~4 GB)" >&2
"$py" -m venv "$tmp" >&2
# --no-deps with a complete lock: exact versions, and no triton (see requirements.lock).
"$tmp/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$lock" >&2
"$tmp/bin/python" -c 'import torch, transformers, tokenizers, safetensors, jsonschema, trl; torch.ones(2) @ torch.ones(2)' >&2
rm -rf "$venv"
mv "$tmp" "$venv"
# venv scripts hard-code their creation path; re-point them at the final location.
grep -rlI --null "$tmp" "$venv/bin" 2>/dev/null | xargs -0 -r sed -i "s#$tmp#$venv#g"
touch "$marker"
echo "ensure-env: built in $(( $(date +%s) - start ))s, $(du -sh "$venv" | cut -f1)" >&2
echo "$venv"
