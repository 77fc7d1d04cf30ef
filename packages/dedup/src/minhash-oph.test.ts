import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fc, test } from "@fast-check/vitest";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { corpus, splitmix32 } from "../test/texts.js";
import { dedup } from "./dedup.js";
import { fmix32, HASH_SCHEME, SIG_EMPTY } from "./minhash-kernel.js";
import { createWasmOph, ophInto, ophPlan } from "./minhash-oph.js";
import { MinHasher } from "./minhasher.js";

/** The scheme written out plainly (what saved indexes depend on): bin and value of every hash, then the probes. */
function reference(hashes: number[], k: number, seed: number): number[] {
  const salt = fmix32(seed ^ 0x5bd1e995);
  const probeSalt = fmix32((seed + 0x27d4eb2f) | 0);
  const bins: Array<number | undefined> = new Array(k).fill(undefined);
  for (const x of hashes) {
    const y = fmix32(x ^ salt) >>> 0;
    const bin = Math.floor((y * k) / 2 ** 32);
    if (bins[bin] === undefined || y < bins[bin]!) bins[bin] = y;
  }
  if (hashes.length === 0) return new Array(k).fill(SIG_EMPTY);
  const out = bins.map((v, j) => {
    for (let t = 1; v === undefined; t++) {
      const c = fmix32((Math.imul(j + 1, 0x9e3779b9) ^ probeSalt) + Math.imul(t, 0x85ebca6b)) >>> 0;
      v = bins[Math.floor((c * k) / 2 ** 32)];
    }
    return v;
  });
  return out.map((y) => (y! ^ 0x80000000) | 0);
}

const hashList = fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { maxLength: 300 });

describe("one-permutation hashing with optimal densification", () => {
  test.prop([fc.constantFrom(1, 7, 64, 100, 128, 256), fc.integer({ min: 0, max: 2 ** 31 }), hashList])(
    "equals the plainly written scheme, on WebAssembly and in JavaScript",
    (k, seed, xs) => {
      const plan = ophPlan(k, seed);
      const want = reference(xs, k, seed);
      const js = new Int32Array(k);
      ophInto(Int32Array.from(xs), xs.length, plan, js);
      expect(Array.from(js)).toEqual(want);
      const wasm = createWasmOph(plan);
      expect(wasm).not.toBeNull();
      const out = new Int32Array(k);
      wasm!(Int32Array.from(xs), xs.length, out);
      expect(Array.from(out)).toEqual(want);
    },
  );

  test.prop([hashList, fc.integer({ min: 0, max: 1000 })])("ignores order and repeats; every slot is one input's value", (xs, seed) => {
    fc.pre(xs.length > 0);
    const h = new MinHasher({ numPerm: 64, seed });
    const a = h.signatureOfHashes(Int32Array.from(xs));
    const shuffled = [...xs, ...xs.slice(0, 5)].sort((p, q) => fmix32(p ^ seed) - fmix32(q ^ seed));
    expect(Array.from(h.signatureOfHashes(Int32Array.from(shuffled)))).toEqual(Array.from(a));
    const salt = fmix32(seed ^ 0x5bd1e995);
    const values = new Set(xs.map((x) => fmix32(x ^ salt) ^ 0x80000000));
    for (const v of a) expect(values.has(v)).toBe(true);
  });

  it("a hash re-mixed to all ones counts as no shingle; tiny sets densify through the computed probe steps", () => {
    // fmix32 inverted: the input whose re-mixed value is 0xffffffff (the kernel's empty-bin pattern)
    const inv = (a: number) => {
      let x = a;
      for (let i = 0; i < 5; i++) x = Math.imul(x, 2 - Math.imul(a, x));
      return x;
    };
    const unshift = (y: number, s: number) => {
      let x = y;
      for (let i = 0; i < 32 / s; i++) x = y ^ (x >>> s);
      return x;
    };
    const unmix = (y: number) => unshift(Math.imul(unshift(Math.imul(unshift(y, 16), inv(0xc2b2ae35)), 13), inv(0x85ebca6b)), 16);
    for (const [k, seed] of [[128, 1], [100, 7], [1, 3]] as const) {
      const plan = ophPlan(k, seed);
      const allOnes = unmix(-1) ^ plan.salt;
      expect(fmix32(allOnes ^ plan.salt)).toBe(-1);
      const wasm = createWasmOph(plan)!;
      const out = new Int32Array(k);
      // the plain reference fills a bin with it; both kernels leave that bin empty (p = 2^-32 per shingle)
      for (const xs of [[allOnes], [allOnes, allOnes], [allOnes, 12345], [12345], [-7], [3, -9]]) {
        const js = new Int32Array(k);
        ophInto(Int32Array.from(xs), xs.length, plan, js);
        if (!xs.includes(allOnes)) expect(Array.from(js)).toEqual(reference(xs, k, seed));
        wasm(Int32Array.from(xs), xs.length, out);
        expect(Array.from(out)).toEqual(Array.from(js));
      }
      ophInto(Int32Array.of(allOnes, 12345), 2, plan, out);
      expect(Array.from(out)).toEqual(reference([12345], k, seed));
      wasm(Int32Array.of(allOnes), 1, out);
      expect(Array.from(out)).toEqual(new Array(k).fill(SIG_EMPTY));
    }
  });

  it("an empty set gives all SIG_EMPTY", () => {
    expect(Array.from(new MinHasher({ numPerm: 16 }).signatureOfHashes(new Int32Array(0)))).toEqual(new Array(16).fill(SIG_EMPTY));
  });

  it.each([
    ["tiny sets (mostly densified bins)", 6, 2],
    ["sets near numPerm", 150, 40],
    ["large sets", 600, 150],
  ])("a slot agrees with probability J: %s", (_, size, shared) => {
    // two sets of `size` hashes sharing `shared`: J = shared / (2·size − shared); averaged over 300 seeds
    const next = splitmix32(size);
    const common = Array.from({ length: shared }, () => next());
    const a = Int32Array.from([...common, ...Array.from({ length: size - shared }, () => next())]);
    const b = Int32Array.from([...common, ...Array.from({ length: size - shared }, () => next())]);
    const j = shared / (2 * size - shared);
    let sum = 0;
    const seeds = 300;
    for (let s = 0; s < seeds; s++) {
      const h = new MinHasher({ numPerm: 128, seed: s + 1 });
      sum += MinHasher.estimate(h.signatureOfHashes(a), h.signatureOfHashes(b));
    }
    // σ of the mean ≤ sqrt(0.25 / (128 · 300)) ≈ 0.0026 for independent slots
    expect(Math.abs(sum / seeds - j)).toBeLessThan(0.015);
  });
});

describe("hash scheme of saved indexes", () => {
  it("is the one-permutation scheme, and an index saved under the k-permutation scheme is refused naming it", async () => {
    expect(HASH_SCHEME).toBe("cp-murmur32+oph-dens32-v2");
    expect(new MinHasher().hashScheme).toBe(HASH_SCHEME);
    expect(new MinHasher({ sketch: "minhash" }).hashScheme).toBe("cp-murmur32+affine32-v1");
    const dir = await tempDir();
    const idx = path.join(dir, "idx");
    const docs = corpus(5, 60, { dupShare: 0.3 }).map((text, i) => ({ id: `d${i}`, text }));
    await dedup(docs, { threads: 0, saveIndex: idx });
    const manifest = path.join(idx, "manifest.json");
    const m = JSON.parse(readFileSync(manifest, "utf8")) as { hashScheme: string };
    expect(m.hashScheme).toBe(HASH_SCHEME);
    writeFileSync(manifest, JSON.stringify({ ...m, hashScheme: "cp-murmur32+affine32-v1" }));
    await expect(dedup(docs, { threads: 0, against: idx })).rejects.toMatchObject({
      name: "DedupError",
      code: "INDEX_MISMATCH",
      field: "hashScheme",
      message: expect.stringMatching(/hashScheme=cp-murmur32\+affine32-v1.*cp-murmur32\+oph-dens32-v2/),
    });
  });
});
