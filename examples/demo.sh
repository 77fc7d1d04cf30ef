#!/usr/bin/env bash
# A small demo on the bundled samples: convert public formats to sfmed records, validate them, print stats.
set -euo pipefail
cd "$(dirname "$0")/.."
out=examples/out/demo
mkdir -p "$out"
sfmed() { node packages/cli/dist/bin.js "$@"; }
S=data/samples
sfmed convert --from toyhom "$S/toyhom/样例_内科5000-6000.utf8.csv" "$S/toyhom/内科.txt" -o "$out/toyhom.jsonl"
sfmed convert --from huatuo26m "$S/huatuo26m_test/huatuo26M_test.json" -o "$out/huatuo26m.jsonl"
sfmed convert --from cmtmedqa "$S/cmtmedqa/CMtMedQA_test.json" -o "$out/cmtmedqa.jsonl"
sfmed convert --from cmexam "$S/cmexam/val.sample.csv" -o "$out/cmexam.jsonl"
sfmed validate --schema dialogue "$out/toyhom.jsonl"
sfmed validate --schema choice "$out/cmexam.jsonl"
sfmed stats "$out/toyhom.jsonl"
sfmed stats "$out/cmtmedqa.jsonl"
echo "demo outputs in $out"
