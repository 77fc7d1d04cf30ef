import { spawnSync } from "node:child_process";
import { fc, test } from "@fast-check/vitest";
import { readSample, repoRoot } from "@sfmed/test-utils";
import { afterAll, describe, expect, it } from "vitest";
import { createRougePool, rougeLBatch, rougeLMany, type RougePair, type RougePool } from "./rouge-batch.js";
import { rougeL } from "./rouge-l.js";

interface HuatuoItem {
  instruction: string[];
  output: string[];
}

function realPairs() {
  const items = JSON.parse(readSample("huatuo26m_test/huatuo26M_test.json")) as HuatuoItem[];
  // Each answer against the next question's answer (shuffled pairs) and against its own question.
  return items.map((it, i) => ({ candidate: it.output[0] ?? "", reference: (items[(i + 1) % items.length]!.output[0] ?? "") + it.instruction[0] }));
}

describe("rougeLBatch", () => {
  it("gives the same scores from worker threads as rougeL, in input order", async () => {
    const pairs = realPairs();
    const progress: number[] = [];
    const threaded = await rougeLBatch(pairs, { threads: 2, chunkSize: 64, onProgress: (d) => progress.push(d) });
    expect(threaded).toHaveLength(pairs.length);
    pairs.forEach((p, i) => expect(threaded[i]).toEqual(rougeL(p.candidate, p.reference)));
    expect(progress.at(-1)).toBe(pairs.length);
    expect(threaded.some((s) => s.f > 0.05)).toBe(true);
  });

  it("ships interned word ids to the workers for other tokenizers, and honours empty: throw", async () => {
    const pairs = realPairs().slice(0, 40);
    const threaded = await rougeLBatch(pairs, { threads: 2, chunkSize: 8, tokenizer: "whitespace" });
    pairs.forEach((p, i) => expect(threaded[i]).toEqual(rougeL(p.candidate, p.reference, { tokenizer: "whitespace" })));
    const withEmpty = [...pairs, { candidate: " ", reference: "有内容" }];
    await expect(rougeLBatch(withEmpty, { threads: 2, chunkSize: 8, empty: "throw" })).rejects.toThrow(/Hypothesis is empty/);
  });

  it("has a synchronous path with the same results (also for jieba words)", async () => {
    const pairs = realPairs().slice(0, 20);
    const sync = rougeLMany(pairs, { tokenizer: "jieba" });
    pairs.forEach((p, i) => expect(sync[i]).toEqual(rougeL(p.candidate, p.reference, { tokenizer: "jieba" })));
    expect(await rougeLBatch(pairs, { threads: 1 })).toEqual(rougeLMany(pairs));
  });
});

describe("input shape", () => {
  it("names the bad pair and field instead of failing inside the tokenizer", async () => {
    const bad = [{ candidate: "头痛", reference: "头痛" }, { candidate: "发热" }] as unknown as RougePair[];
    await expect(rougeLBatch(bad)).rejects.toMatchObject({ name: "RougeError", code: "BAD_INPUT", index: 1, field: "reference", message: "pairs[1].reference: expected a string, got undefined" });
    expect(() => rougeLMany(bad)).toThrow(/pairs\[1\]\.reference/);
    await expect(rougeLBatch([["头痛", "头痛"]] as unknown as RougePair[])).rejects.toMatchObject({ code: "BAD_INPUT", index: 0, field: "candidate" });
    await expect(rougeLBatch("头痛" as unknown as RougePair[])).rejects.toThrow(/pairs: expected an array of \{ candidate: string, reference: string \}, got string/);
  });
});

describe("createRougePool", () => {
  // Code points from CJK, ASCII (spaces included, so whitespace tokens are exercised) and astral emoji.
  const piece = fc.oneof(
    fc.integer({ min: 0x4e00, max: 0x4fff }).map((c) => String.fromCodePoint(c)),
    fc.constantFrom(" ", "a", "b", "Z", "7", "-", "。"),
    fc.integer({ min: 0x1f600, max: 0x1f60f }).map((c) => String.fromCodePoint(c)),
  );
  const text = fc.array(piece, { maxLength: 90 }).map((xs) => xs.join(""));
  const pairs = fc.array(fc.record({ candidate: text, reference: text }), { minLength: 1, maxLength: 60 });

  const pool = createRougePool({ threads: 2 });
  afterAll(() => pool.close());

  test.prop([pairs, fc.constantFrom("char", "whitespace") as fc.Arbitrary<"char" | "whitespace">, fc.boolean(), fc.constantFrom(1, 7, undefined)], { numRuns: 40 })(
    "every F equals rougeLMany's, for character and interned word tokens, with and without the calling thread",
    async (ps, tokenizer, callerRuns, chunkSize) => {
      const got = await pool.score(ps, { chunkSize, tokenizer, callerRuns });
      const want = rougeLMany(ps, { tokenizer });
      expect(got.map((s) => s.f)).toEqual(want.map((s) => s.f));
      expect(got).toEqual(want);
    },
  );

  it("serves concurrent calls, honours a per-call thread limit and abort signal, and rejects after close", async () => {
    const ps = realPairs();
    const own = createRougePool({ threads: 2 });
    const [a, b] = await Promise.all([own.score(ps, { chunkSize: 50 }), own.score(ps.slice(7), { chunkSize: 33, threads: 1 })]);
    expect(a).toEqual(rougeLMany(ps));
    expect(b).toEqual(rougeLMany(ps.slice(7)));
    const ac = new AbortController();
    const aborted = expect(own.score(ps, { chunkSize: 10, signal: ac.signal })).rejects.toThrow("stop");
    ac.abort(new Error("stop"));
    await aborted;
    // The pool outlives an aborted call.
    expect(await own.score(ps, { chunkSize: 64 })).toEqual(a);
    const unfinished = expect(own.score(ps, { chunkSize: 5 })).rejects.toMatchObject({ name: "RougeError", code: "POOL_CLOSED" });
    await own.close();
    await unfinished;
    await expect(own.score(ps, { chunkSize: 5 })).rejects.toMatchObject({ code: "POOL_CLOSED" });
  });

  it("with callerRuns, scores slices on the calling thread between worker replies, the event loop turning", async () => {
    const ps = Array.from({ length: 6 }, () => realPairs()).flat();
    const own = createRougePool({ threads: 1 });
    let ticks = 0;
    let ticking = true;
    const tick = () => {
      ticks++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const progress: number[] = [];
    const got = await own.score(ps, { callerRuns: true, onProgress: (d) => progress.push(d) });
    ticking = false;
    expect(got).toEqual(rougeLMany(ps));
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(progress.at(-1)).toBe(ps.length);
    // guided chunks and ~1 ms slices: many more progress steps than 2000-pair chunks would give
    expect(progress.length).toBeGreaterThan(Math.ceil(ps.length / 2000) + 2);
    expect(ticks).toBeGreaterThan(1);
    // an empty side among the caller's slices (the back) or the workers' chunks (the front) fails the call
    for (const at of [0, ps.length]) {
      const withEmpty = [...ps.slice(0, at), { candidate: "", reference: "有内容" }, ...ps.slice(at)];
      await expect(own.score(withEmpty, { callerRuns: true, empty: "throw" })).rejects.toThrow(/Hypothesis is empty/);
    }
    const ac = new AbortController();
    let after = 0;
    const call = own.score(ps, { callerRuns: true, signal: ac.signal, onProgress: () => ac.signal.aborted && after++ });
    setImmediate(() => ac.abort(new Error("stop")));
    await expect(call).rejects.toThrow("stop");
    await new Promise((r) => setTimeout(r, 50));
    expect(after).toBe(0);
    expect(await own.score(ps.slice(3), { callerRuns: true })).toEqual(rougeLMany(ps.slice(3)));
    await own.close();
  });

  it("a throwing onProgress fails its call, on the workers' chunks and on the caller's slices alike", async () => {
    const ps = realPairs();
    const own = createRougePool({ threads: 1 });
    for (const callerRuns of [false, true]) {
      const boom = new Error(`progress callback failed (callerRuns ${callerRuns})`);
      await expect(own.score(ps, { callerRuns, chunkSize: 40, onProgress: () => { throw boom; } })).rejects.toBe(boom);
      expect(await own.score(ps, { callerRuns })).toEqual(rougeLMany(ps));
    }
    await own.close();
  });

  it("closes when its signal aborts, and with await using", async () => {
    const ps = realPairs();
    const ac = new AbortController();
    const own = createRougePool({ threads: 2, signal: ac.signal });
    expect(await own.score(ps, { chunkSize: 40 })).toEqual(rougeLMany(ps));
    ac.abort();
    await expect(own.score(ps, { chunkSize: 40 })).rejects.toMatchObject({ code: "POOL_CLOSED" });
    let disposed: RougePool;
    {
      await using p = createRougePool({ threads: 1 });
      disposed = p;
      expect(await p.score(ps, { chunkSize: 40 })).toEqual(rougeLMany(ps));
    }
    await expect(disposed.score(ps, { chunkSize: 40 })).rejects.toMatchObject({ code: "POOL_CLOSED" });
  });

  it("rougeLBatch's shared pool never keeps the process alive", () => {
    const code = `
      import { rougeLBatch, rougeLMany } from "@sfmed/eval-metrics";
      const pairs = Array.from({ length: 3000 }, (_, i) => ({ candidate: "头痛发热😀" + i, reference: "头痛发烧" + (i % 7) }));
      const a = await rougeLBatch(pairs, { threads: 2, chunkSize: 500 });
      const b = await rougeLBatch(pairs.slice(1), { threads: 2, chunkSize: 300 });
      const want = rougeLMany(pairs);
      process.stdout.write(JSON.stringify({ same: a.every((s, i) => s.f === want[i].f) && b.every((s, i) => s.f === want[i + 1].f) }));
    `;
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ["--conditions=@sfmed/source", "--import", "tsx", "--input-type=module", "-e", code], {
      cwd: repoRoot,
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.signal, "the child had to be killed: the pool held the process open").toBeNull();
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ same: true });
    // Start-up with tsx dominates; a pool that held the process would hit the 60 s kill above.
    expect(Date.now() - t0).toBeLessThan(45_000);
  }, 90_000);
});

describe("worker kernels", () => {
  it("scores the same with the JS kernel in the workers as with the Wasm one", async () => {
    const ps = realPairs();
    const { setLcsKernel } = await import("./lcs-fast.js");
    setLcsKernel("js");
    const js = createRougePool({ threads: 2 });
    setLcsKernel("wasm");
    try {
      const [a, b] = [await js.score(ps, { chunkSize: 40 }), await js.score(ps, { chunkSize: 40, tokenizer: "whitespace" })];
      expect(a).toEqual(rougeLMany(ps));
      expect(b).toEqual(rougeLMany(ps, { tokenizer: "whitespace" }));
    } finally {
      await js.close();
    }
  });
});
