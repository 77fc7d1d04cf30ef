// Seeded benchmark corpora built from the real Chinese medical texts in ../shared/data.
// Documents: real texts verbatim, edited copies of earlier documents (character edits at a random rate in
// [0, 0.12], sometimes a dropped or repeated clause), and new documents made of real clauses in random order.
import { createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, statSync } from "node:fs";
import { once } from "node:events";
import { homedir } from "node:os";
import path from "node:path";
import { sharedDataDir } from "@sfmed/test-utils";
import { splitmix32 } from "@sfmed/schema/io";

export const CACHE = path.join(homedir(), ".cache", "sfmed", "bench-dedup");

const CJK = /[\u4e00-\u9fff]/;

function collectStrings(v: unknown, out: string[]): void {
  if (typeof v === "string") {
    if (v.length >= 20 && CJK.test(v)) out.push(v);
  } else if (Array.isArray(v)) for (const x of v) collectStrings(x, out);
  else if (v && typeof v === "object") for (const x of Object.values(v)) collectStrings(x, out);
}

/** Every CJK string of 20+ characters in the shared JSON/JSONL/CSV/TXT files (UTF-8 only), in a fixed order. */
export function realTexts(): string[] {
  const root = sharedDataDir();
  if (!root) throw new Error("../shared/data is missing: benchmarks need the shared data sets");
  const files: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = path.join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(json|jsonl|csv|txt)$/.test(name) && !(name === "内科.txt")) files.push(p); // 内科.txt is GB18030; its UTF-8 twin is used
    }
  };
  walk(root);
  const out: string[] = [];
  for (const f of files) {
    const text = readFileSync(f, "utf8");
    if (f.endsWith(".json")) {
      try {
        collectStrings(JSON.parse(text), out);
        continue;
      } catch {
        /* JSONL under a .json name */
      }
    }
    if (f.endsWith(".json") || f.endsWith(".jsonl")) {
      for (const line of text.split("\n")) {
        if (!line.trim()) continue;
        try {
          collectStrings(JSON.parse(line), out);
        } catch {
          /* not JSON */
        }
      }
    } else if (f.endsWith(".txt") && text.includes("\n\n\n")) {
      for (const block of text.split(/\r?\n\r?\n\r?\n/)) collectStrings(block.trim(), out);
    } else for (const line of text.split("\n")) collectStrings(line.trim(), out);
  }
  return out;
}

function clausesOf(texts: string[]): string[] {
  const out: string[] = [];
  for (const t of texts) for (const c of t.split(/(?<=[，。！？；,.!?;\n])/)) if (c.length >= 4 && c.length <= 80) out.push(c);
  return out;
}

export interface CorpusDoc {
  id: string;
  source: string;
  text: string;
}

/**
 * Generate `n` documents. About 25% are edited copies of one of the previous 20,000 documents, 15% are real texts
 * verbatim (in order, then again with the cycle), the rest are new clause sequences of about `len` characters.
 */
export function* generateCorpus(n: number, seed = 42, len = 200): Generator<CorpusDoc> {
  const real = realTexts();
  const clauses = clausesOf(real);
  const chars = Array.from(new Set(Array.from(clauses.join("")).filter((c) => CJK.test(c))));
  const next = splitmix32(seed);
  const u = () => (next() >>> 0) / 2 ** 32;
  const pick = <T>(a: T[]): T => a[(next() >>> 0) % a.length]!;
  const window: string[] = [];
  let realAt = 0;
  for (let i = 0; i < n; i++) {
    const r = u();
    let text: string;
    let source: string;
    if (r < 0.25 && window.length > 0) {
      const base = pick(window);
      const rate = u() * 0.12;
      let s = "";
      for (const ch of base) {
        const e = u();
        if (e < rate / 3) s += pick(chars);
        else if (e < (2 * rate) / 3) continue;
        else if (e < rate) s += ch + pick(chars);
        else s += ch;
      }
      if (u() < 0.1) s += pick(clauses);
      text = s;
      source = "edited";
    } else if (r < 0.4) {
      text = real[realAt++ % real.length]!;
      source = "real";
    } else {
      let s = "";
      const target = len * (0.5 + u());
      while (s.length < target) s += pick(clauses);
      text = s;
      source = "clauses";
    }
    window.push(text);
    if (window.length > 20000) window[(next() >>> 0) % 20000] = window.pop()!;
    yield { id: `g${i}`, source, text };
  }
}

/**
 * The corpus as a cached JSONL file (written once per size, seed and target length; `len` 200 gives a mean of
 * about 211 characters, 160 about 170, 480 about 500).
 */
export async function corpusFile(n: number, seed = 42, len = 200): Promise<string> {
  mkdirSync(CACHE, { recursive: true });
  const file = path.join(CACHE, len === 200 ? `corpus-${n}-${seed}.jsonl` : `corpus-${n}-${seed}-len${len}.jsonl`);
  if (existsSync(file)) return file;
  const tmp = `${file}.tmp`;
  const ws = createWriteStream(tmp);
  let buf: string[] = [];
  for (const d of generateCorpus(n, seed, len)) {
    buf.push(JSON.stringify(d));
    if (buf.length === 2000) {
      if (!ws.write(buf.join("\n") + "\n")) await once(ws, "drain");
      buf = [];
    }
  }
  if (buf.length) ws.write(buf.join("\n") + "\n");
  ws.end();
  await once(ws, "finish");
  renameSync(tmp, file);
  return file;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const real = realTexts();
  console.log(`${real.length} real texts, ${clausesOf(real).length} clauses, mean ${Math.round(real.reduce((a, t) => a + t.length, 0) / real.length)} chars`);
  const n = Number(process.argv[2] ?? 50000);
  console.log(await corpusFile(n));
}
