/**
 * ROUGE-L throughput and agreement against google-research rouge-score (PyPI) on real Chinese medical answers,
 * and agreement with rouge-chinese given the same jieba words.
 *
 *   python3 -m venv ~/.cache/sfmed/bench-eval-metrics && ~/.cache/sfmed/bench-eval-metrics/bin/pip install rapidfuzz rouge-score rouge-chinese jieba
 *   npx tsx --conditions=@sfmed/source packages/eval-metrics/bench/rouge-agreement.ts
 *
 * rouge-score's default tokenizer deletes every non-ASCII character, so it is fed the same character tokens we
 * score (code points, whitespace removed), each mapped to an ASCII-safe id ("t123") and space-joined; its
 * tokenizer then yields exactly those ids. Both sides are timed single-threaded, tokenizing included.
 * Needs ../shared/data (Huatuo-26M test, CMtMedQA test).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { homedir, tmpdir, availableParallelism } from "node:os";
import { join } from "node:path";
import { sharedDataDir } from "@sfmed/test-utils";
import { rougeLBatch, rougeLMany } from "../src/rouge-batch.js";
import { rougeChineseTokens, rougeL } from "../src/rouge-l.js";
import { seededRandom } from "@sfmed/schema";
import { charCodes } from "../src/tokenize.js";

const data = sharedDataDir();
if (!data) throw new Error("../shared/data not found (set SFMED_SHARED_DATA)");
const python = process.env.SFMED_BENCH_PYTHON ?? join(homedir(), ".cache/sfmed/bench-eval-metrics/bin/python");
if (!existsSync(python)) throw new Error(`no bench venv at ${python} (see the header of this file)`);

interface Pair {
  candidate: string;
  reference: string;
}
const rand = seededRandom(42);
const shuffle = <T>(xs: T[]) => {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
};

const huatuo = (JSON.parse(readFileSync(join(data, "huatuo26m_test/huatuo26M_test.json"), "utf8")) as { output: string[] }[]).map((x) => x.output[0] ?? "");
const cmt = JSON.parse(readFileSync(join(data, "cmtmedqa/CMtMedQA_test.json"), "utf8")) as { output: string; history: [string, string][] }[];
const perm = shuffle(huatuo.map((_, i) => i));
const dialogues = cmt.map((d) => [...(d.history ?? []).map((h) => h[1]), d.output].join("\n"));
const dperm = shuffle(dialogues.map((_, i) => i));

const sets: { name: string; pairs: Pair[] }[] = [
  { name: "Huatuo-26M answer vs shuffled answer", pairs: huatuo.map((c, i) => ({ candidate: c, reference: huatuo[perm[i]!]! })).slice(0, 2000) },
  { name: "CMtMedQA answer vs Huatuo-26M answer", pairs: cmt.map((d, i) => ({ candidate: d.output, reference: huatuo[i]! })) },
  { name: "CMtMedQA whole doctor side vs another (long)", pairs: dialogues.map((d, i) => ({ candidate: d, reference: dialogues[dperm[i]!]! })).slice(0, 60) },
];

const PY = String.raw`
import json, sys, time
from rouge_score import rouge_scorer
from rouge_chinese import Rouge
mode, path = sys.argv[1], sys.argv[2]
pairs = [json.loads(l) for l in open(path, encoding="utf-8")]
out = []
if mode == "rouge-score":
    sc = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    t = time.perf_counter()
    for c, r in pairs:
        out.append(sc.score(r, c)["rougeL"].fmeasure)
    dt = time.perf_counter() - t
elif mode == "rouge-chinese-jieba":
    # End to end as Chinese medical LLM scripts do it: Python jieba words, space-joined, rouge_chinese rouge-l.
    import jieba, logging
    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    rg = Rouge()
    t = time.perf_counter()
    for c, r in pairs:
        out.append(rg.get_scores(" ".join(jieba.cut(c)), " ".join(jieba.cut(r)))[0]["rouge-l"]["f"])
    dt = time.perf_counter() - t
else:
    rg = Rouge()
    t = time.perf_counter()
    for c, r in pairs:
        out.append(rg.get_scores(c, r)[0]["rouge-l"]["f"])
    dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "f": [repr(x) for x in out]}))
`;
const dir = mkdtempSync(join(tmpdir(), "sfmed-rouge-bench-"));
writeFileSync(join(dir, "peer.py"), PY);

function runPython(mode: string, pairs: [string, string][]): { seconds: number; f: number[] } {
  const file = join(dir, `${mode}.jsonl`);
  writeFileSync(file, pairs.map((p) => JSON.stringify(p)).join("\n") + "\n");
  const r = spawnSync(python, [join(dir, "peer.py"), mode, file], { encoding: "utf8", maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(r.stderr);
  const j = JSON.parse(r.stdout) as { seconds: number; f: string[] };
  return { seconds: j.seconds, f: j.f.map(Number) };
}

/** The same character tokens as ASCII-safe ids, space-joined (survives rouge-score's [a-z0-9] tokenizer). */
const asIds = (s: string) => Array.from(charCodes(s), (c) => `t${c.toString(36)}`).join(" ");

function time<T>(fn: () => T, minMs = 300): { value: T; seconds: number } {
  let value = fn(); // warm-up (JIT)
  let runs = 0;
  const t = performance.now();
  do {
    value = fn();
    runs++;
  } while (performance.now() - t < minMs);
  return { value, seconds: (performance.now() - t) / 1000 / runs };
}

const rows: string[] = [];
let allIdentical = true;
for (const set of sets) {
  const chars = set.pairs.reduce((a, p) => a + charCodes(p.candidate).length + charCodes(p.reference).length, 0);
  const ours = time(() => rougeLMany(set.pairs));
  const py = runPython("rouge-score", set.pairs.map((p) => [asIds(p.candidate), asIds(p.reference)]));
  let maxDiff = 0;
  ours.value.forEach((s, i) => (maxDiff = Math.max(maxDiff, Math.abs(s.f - py.f[i]!))));
  if (maxDiff > 1e-12) allIdentical = false;
  const meanF = ours.value.reduce((a, s) => a + s.f, 0) / set.pairs.length;
  rows.push(
    `| ${set.name} | ${set.pairs.length} | ${Math.round(chars / set.pairs.length / 2)} | ${(100 * meanF).toFixed(2)} | ${maxDiff.toExponential(1)} | ${(set.pairs.length / py.seconds).toFixed(0)} | ${(set.pairs.length / ours.seconds).toFixed(0)} | **${(py.seconds / ours.seconds).toFixed(0)}×** |`,
  );
}

// Threads: the whole Huatuo-26M set against shuffled answers, five rotations (30,000 pairs).
const big = [0, 1, 2, 3, 4].flatMap((k) => huatuo.map((c, i) => ({ candidate: c, reference: huatuo[perm[(i + k * 997) % huatuo.length]!]! })));
const threads = Math.min(availableParallelism(), 8);
const one = time(() => rougeLMany(big));
const many = await (async () => {
  await rougeLBatch(big, { threads, chunkSize: 2000 });
  const t = performance.now();
  const v = await rougeLBatch(big, { threads, chunkSize: 2000 });
  return { v, seconds: (performance.now() - t) / 1000 };
})();
const sameThreaded = many.v.every((s, i) => s.f === one.value[i]!.f);

// rouge-chinese compatibility: our compat words, space-joined, through rouge_chinese's rouge-l.
const words = (s: string) => rougeChineseTokens(s, undefined).join(" ");
const zhPairs = sets[1]!.pairs.slice(0, 300).filter((p) => words(p.candidate) && words(p.reference));
const zhPy = runPython("rouge-chinese", zhPairs.map((p) => [words(p.candidate), words(p.reference)]));
let zhMax = 0;
zhPairs.forEach((p, i) => (zhMax = Math.max(zhMax, Math.abs(rougeL(p.candidate, p.reference, { compat: "rouge-chinese" }).f - zhPy.f[i]!))));

console.log(`ROUGE-L (char tokens), single thread, Node ${process.version}; rouge-score 0.1.2 via ${python}\n`);
console.log("| pairs | n | mean chars/side | mean F ×100 | max abs(F diff) | rouge-score pairs/s | eval-metrics pairs/s | speed-up |");
console.log("|---|---|---|---|---|---|---|---|");
console.log(rows.join("\n"));
// End to end against Python jieba (segmentations may differ between jieba ports on rare words).
const e2e = runPython("rouge-chinese-jieba", zhPairs.map((p) => [p.candidate, p.reference]));
let e2eSame = 0;
let e2eMax = 0;
zhPairs.forEach((p, i) => {
  const d = Math.abs(rougeL(p.candidate, p.reference, { compat: "rouge-chinese" }).f - e2e.f[i]!);
  if (d <= 1e-12) e2eSame++;
  e2eMax = Math.max(e2eMax, d);
});

console.log(`\nidentical F to 1e-12 on every pair: ${allIdentical ? "yes" : "NO"}`);
console.log(`threads: ${big.length} pairs, 1 thread ${(big.length / one.seconds).toFixed(0)} pairs/s, ${threads} threads ${(big.length / many.seconds).toFixed(0)} pairs/s (${(one.seconds / many.seconds).toFixed(2)}×), same scores: ${sameThreaded}`);
console.log(`rouge-chinese 1.0.3 rouge-l on the same jieba words (${zhPairs.length} pairs): max abs(F diff) ${zhMax.toExponential(1)}`);
console.log(`rouge-chinese end to end with Python jieba 0.42.1 (${zhPairs.length} pairs): identical F on ${e2eSame}, max abs(F diff) ${e2eMax.toExponential(1)}`);
