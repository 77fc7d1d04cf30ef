#!/usr/bin/env bash
# Real chain: train 3 tiny reward models with trainer-py on the MedicalGPT reward sample (seeds 1 2 3), score
# every pair with all of them, join the scores with `sfmed pref score`, select with `sfmed pref select`.
# Usage: bash packages/pref-select/scripts/real-chain.sh [OUT_DIR [--pairs N] [--seeds S...] [--epochs E]]
# CPU only; builds the trainer venv once. 100 pairs x 3 models x 2 epochs: ~2 CPU-minutes.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
out="${1:-${TMPDIR:-/tmp}/sfmed-pref-real-chain}"
shift || true
venv="$(bash "$root/trainer-py/scripts/ensure-env.sh" | tail -n1)"
"$venv/bin/python" "$root/packages/pref-select/scripts/real_chain.py" "$out" "$@" >/dev/null
sfmed() { (cd "$root" && npx tsx --conditions=@sfmed/source packages/cli/src/bin.ts "$@"); }
sfmed -q pref score -i "$out/pairs.jsonl" -s "$out/trainer-scores.jsonl" -o "$out/scored.jsonl"
sfmed pref select -i "$out/scored.jsonl" -o "$out/selected.jsonl" --flip 0.1 --drop 0.1 --dropped "$out/dropped.jsonl"
echo "$out"
