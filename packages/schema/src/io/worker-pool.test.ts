import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createWorkerPool, WorkerPoolError } from "./worker-pool.js";
import { newWorker } from "./worker-exec-argv.js";

// Echoes `{ worker, value }`; `crash` exits the thread, `wait` delays the reply (messages still answered in order).
const ECHO = `const { parentPort, workerData } = require("node:worker_threads");
let chain = Promise.resolve();
parentPort.on("message", (m) => {
  if (m.crash) process.exit(3);
  chain = chain.then(() => new Promise((r) => setTimeout(r, m.wait ?? 0))).then(() => parentPort.postMessage({ worker: workerData, value: m.value }));
});`;

const spawn = (index: number) => newWorker(ECHO, { eval: true, workerData: index });

describe("createWorkerPool", () => {
  it("answers each task with its own reply, in order per worker, on the least busy worker", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 3 }), fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 12 }), async (size, waits) => {
        await using pool = createWorkerPool<{ value: number; wait: number }, { worker: number; value: number }>({ size, spawn });
        const sent = waits.map((wait, value) => pool.run({ value, wait }));
        expect(pool.busy).toBe(waits.length);
        const got = await Promise.all(sent);
        expect(got.map((g) => g.value)).toEqual(waits.map((_, i) => i));
        // round robin on an even pool: task i lands on worker i mod size
        expect(got.map((g) => g.worker)).toEqual(waits.map((_, i) => i % size));
        expect(pool.busy).toBe(0);
      }),
      { numRuns: 8 },
    );
  });

  it("limits dispatch to the first upTo workers and to a named worker", async () => {
    await using pool = createWorkerPool<{ value: number }, { worker: number; value: number }>({ size: 3, spawn });
    const a = await Promise.all([0, 1, 2, 3].map((value) => pool.run({ value }, [], { upTo: 2 })));
    expect(new Set(a.map((r) => r.worker))).toEqual(new Set([0, 1]));
    expect((await pool.run({ value: 9 }, [], { worker: 2 })).worker).toBe(2);
    expect(pool.grow(4)).toBe(4);
    expect((await pool.run({ value: 1 }, [], { worker: 3 })).worker).toBe(3);
  });

  it("rejects a crashed worker's tasks naming the crash, and replaces the worker", async () => {
    await using pool = createWorkerPool<{ value?: number; crash?: boolean; wait?: number }, { worker: number; value: number }>({ size: 1, spawn });
    const queued = pool.run({ crash: true });
    const after = pool.run({ value: 5 });
    const err = await queued.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkerPoolError);
    expect((err as WorkerPoolError).code).toBe("WORKER_CRASHED");
    expect((err as Error).message).toMatch(/worker 0 crashed: exited with code 3/);
    await expect(after).rejects.toThrow(/crashed/);
    expect(await pool.run({ value: 7 })).toEqual({ worker: 0, value: 7 });
    expect(pool.size).toBe(1);
  });

  it("closes on abort, rejecting unfinished tasks with POOL_CLOSED", async () => {
    const ac = new AbortController();
    const pool = createWorkerPool<{ value: number; wait: number }, unknown>({ size: 2, spawn, signal: ac.signal });
    const slow = pool.run({ value: 1, wait: 5_000 });
    ac.abort();
    await expect(slow).rejects.toMatchObject({ name: "WorkerPoolError", code: "POOL_CLOSED" });
    expect(pool.closed).toBe(true);
    await expect(pool.run({ value: 2, wait: 0 })).rejects.toMatchObject({ code: "POOL_CLOSED" });
    await pool.close();
  });

  it("an idle unref'd pool lets the process exit; a busy one holds it until the answer", () => {
    const mod = fileURLToPath(new URL("./worker-pool.ts", import.meta.url));
    const script = `
      import { Worker } from "node:worker_threads";
      const { createWorkerPool } = await import(${JSON.stringify(mod)});
      const pool = createWorkerPool({ size: 2, unref: true, spawn: () => new Worker(${JSON.stringify(ECHO)}, { eval: true, workerData: 0, execArgv: [] }) });
      const r = await pool.run({ value: 42, wait: 300 });
      console.log("answer", r.value);`;
    const out = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 20_000 });
    expect(out.stderr).toBe("");
    expect(out.stdout.trim()).toBe("answer 42");
    expect(out.status).toBe(0);
  });
});
