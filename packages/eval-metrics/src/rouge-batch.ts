import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { workerExecArgv } from "@sfmed/schema";
import { lcsMultiWord, lcsOfSymbols, lcsOneWord, popcount32 } from "./lcs-bit-parallel.js";
import { RougeError, scoreFromCounts, symbolsForPair, type RougeLOptions, type RougeScore } from "./rouge-l.js";
import { charCodes, isPythonWhitespace } from "./tokenize.js";

/** One candidate/reference pair. */
export interface RougePair {
  candidate: string;
  reference: string;
}

export interface RougeBatchOptions extends RougeLOptions {
  /**
   * Worker threads for the LCS kernel. Tokenizing stays on the calling thread (jieba and custom tokenizers
   * are not transferable); only integer symbols cross. `1` computes synchronously in this thread.
   * @default min(availableParallelism(), 8)
   */
  threads?: number;
  /** Pairs per message to a worker. @default 2000 */
  chunkSize?: number;
  /** Called after each finished chunk with the number of pairs scored so far. */
  onProgress?: (done: number, total: number) => void;
}

/** Callers from JavaScript or parsed JSON can pass anything: name the bad pair instead of failing deep inside. */
function checkPairs(pairs: unknown): asserts pairs is readonly RougePair[] {
  const shape = "expected an array of { candidate: string, reference: string }";
  if (!Array.isArray(pairs)) throw new RougeError("BAD_INPUT", `pairs: ${shape}, got ${pairs === null ? "null" : typeof pairs}`);
  for (let i = 0; i < pairs.length; i++) {
    const p: unknown = pairs[i];
    if (p === null || typeof p !== "object") throw new RougeError("BAD_INPUT", `pairs[${i}]: ${shape}, got ${p === null ? "null" : typeof p}`, { index: i });
    for (const field of ["candidate", "reference"] as const) {
      const v = (p as Record<string, unknown>)[field];
      if (typeof v !== "string") throw new RougeError("BAD_INPUT", `pairs[${i}].${field}: expected a string, got ${v === null ? "null" : typeof v}`, { index: i, field });
    }
  }
}

/**
 * ROUGE-L of many pairs in this thread (same results as `rougeLBatch`).
 * @throws {RougeError} code `BAD_INPUT` naming the pair and field when `pairs` is not `{ candidate, reference }[]`
 */
export function rougeLMany(pairs: readonly RougePair[], options: RougeLOptions & { onProgress?: (done: number, total: number) => void } = {}): RougeScore[] {
  checkPairs(pairs);
  const out: RougeScore[] = [];
  const eps = options.compat === "rouge-chinese" ? 1e-8 : 0;
  for (let i = 0; i < pairs.length; i++) {
    const [c, r] = prepared(pairs[i]!, options);
    out.push(scoreFromCounts(c.length && r.length ? lcsOfSymbols(c, r) : 0, c.length, r.length, eps));
    if (options.onProgress && (i + 1) % 1000 === 0) options.onProgress(i + 1, pairs.length);
  }
  options.onProgress?.(pairs.length, pairs.length);
  return out;
}

function prepared(p: RougePair, options: RougeLOptions): [ArrayLike<number>, ArrayLike<number>] {
  const [c, r] = symbolsForPair(p.candidate, p.reference, options);
  const empty = options.empty ?? (options.compat === "rouge-chinese" ? "throw" : "zero");
  if (empty === "throw") {
    if (c.length === 0) throw new RougeError("EMPTY_CANDIDATE", "Hypothesis is empty.");
    if (r.length === 0) throw new RougeError("EMPTY_REFERENCE", "Reference is empty.");
  }
  return [c, r];
}

// The worker runs the very same kernel functions, shipped as source text (they reference nothing outside
// themselves), so the package needs no separate worker file in source or built form.
function workerSource(): string {
  return `"use strict";
const { parentPort } = require("node:worker_threads");
${popcount32.toString()}
${lcsOneWord.toString()}
${lcsMultiWord.toString()}
${lcsOfSymbols.toString()}
${isPythonWhitespace.toString()}
${charCodes.toString()}
parentPort.on("message", (m) => {
  if (m.texts) {
    // Character tokens: tokenize here too, so the calling thread only slices the input.
    const n = m.texts.length >> 1;
    const lcs = new Int32Array(n);
    const lengths = new Int32Array(2 * n);
    for (let k = 0; k < n; k++) {
      const c = ${charCodes.name}(m.texts[2 * k]);
      const r = ${charCodes.name}(m.texts[2 * k + 1]);
      lengths[2 * k] = c.length;
      lengths[2 * k + 1] = r.length;
      lcs[k] = c.length && r.length ? ${lcsOfSymbols.name}(c, r) : 0;
    }
    parentPort.postMessage({ id: m.id, lcs, lengths }, [lcs.buffer, lengths.buffer]);
    return;
  }
  const n = m.offsets.length - 1;
  const lcs = new Int32Array(n >> 1);
  for (let k = 0; k < n; k += 2) {
    const c = m.data.subarray(m.offsets[k], m.offsets[k + 1]);
    const r = m.data.subarray(m.offsets[k + 1], m.offsets[k + 2]);
    lcs[k >> 1] = c.length && r.length ? ${lcsOfSymbols.name}(c, r) : 0;
  }
  parentPort.postMessage({ id: m.id, lcs }, [lcs.buffer]);
});
`;
}

/**
 * ROUGE-L of many pairs, the LCS work spread over worker threads. Results are in input order and identical
 * to `rougeL` on each pair.
 * @throws RougeError for an empty side under `empty: "throw"`.
 */
export async function rougeLBatch(pairs: readonly RougePair[], options: RougeBatchOptions = {}): Promise<RougeScore[]> {
  checkPairs(pairs);
  const threads = Math.max(1, Math.floor(options.threads ?? Math.min(availableParallelism(), 8)));
  const chunkSize = Math.max(1, options.chunkSize ?? 2000);
  if (threads === 1 || pairs.length <= chunkSize) return rougeLMany(pairs, options);
  const eps = options.compat === "rouge-chinese" ? 1e-8 : 0;
  const charMode = (options.tokenizer ?? "char") === "char" && (options.compat ?? "rouge-score") === "rouge-score";
  const throwOnEmpty = options.empty === "throw";
  const lengths = new Int32Array(pairs.length * 2);
  const results: RougeScore[] = new Array(pairs.length);
  const chunks: { id: number; start: number; end: number }[] = [];
  for (let s = 0, id = 0; s < pairs.length; s += chunkSize) chunks.push({ id: id++, start: s, end: Math.min(pairs.length, s + chunkSize) });

  const pack = (start: number, end: number) => {
    const sides: ArrayLike<number>[] = [];
    let total = 0;
    for (let i = start; i < end; i++) {
      const [c, r] = prepared(pairs[i]!, options);
      lengths[2 * i] = c.length;
      lengths[2 * i + 1] = r.length;
      sides.push(c, r);
      total += c.length + r.length;
    }
    const data = new Int32Array(total);
    const offsets = new Int32Array(sides.length + 1);
    let o = 0;
    sides.forEach((s, k) => {
      offsets[k] = o;
      data.set(s, o);
      o += s.length;
    });
    offsets[sides.length] = o;
    return { data, offsets };
  };

  const pool = Array.from({ length: Math.min(threads, chunks.length) }, () => new Worker(workerSource(), { eval: true, execArgv: workerExecArgv() }));
  let next = 0;
  let done = 0;
  try {
    await Promise.all(
      pool.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            let current: { id: number; start: number; end: number } | undefined;
            const send = () => {
              current = chunks[next++];
              if (!current) return resolve();
              try {
                if (charMode) {
                  const texts: string[] = [];
                  for (let i = current.start; i < current.end; i++) texts.push(pairs[i]!.candidate, pairs[i]!.reference);
                  w.postMessage({ id: current.id, texts });
                } else {
                  const { data, offsets } = pack(current.start, current.end);
                  w.postMessage({ id: current.id, data, offsets }, [data.buffer, offsets.buffer]);
                }
              } catch (e) {
                reject(e);
              }
            };
            w.on("message", (m: { id: number; lcs: Int32Array; lengths?: Int32Array }) => {
              const c = current!;
              if (m.lengths) {
                lengths.set(m.lengths, 2 * c.start);
                if (throwOnEmpty)
                  for (let i = c.start; i < c.end; i++) {
                    if (lengths[2 * i] === 0) return reject(new RougeError("EMPTY_CANDIDATE", "Hypothesis is empty."));
                    if (lengths[2 * i + 1] === 0) return reject(new RougeError("EMPTY_REFERENCE", "Reference is empty."));
                  }
              }
              for (let i = c.start; i < c.end; i++) results[i] = scoreFromCounts(m.lcs[i - c.start]!, lengths[2 * i]!, lengths[2 * i + 1]!, eps);
              done += c.end - c.start;
              options.onProgress?.(done, pairs.length);
              send();
            });
            w.on("error", reject);
            send();
          }),
      ),
    );
  } finally {
    await Promise.all(pool.map((w) => w.terminate()));
  }
  return results;
}
