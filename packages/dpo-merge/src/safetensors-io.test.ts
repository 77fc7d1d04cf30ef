import { writeFile, readdir, truncate } from "node:fs/promises";
import path from "node:path";
import { fc, test } from "@fast-check/vitest";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { Checkpoint, CheckpointWriter } from "./checkpoint.js";
import { bf16ToF32, f32ToBf16 } from "./dtype.js";
import { SafetensorsFile } from "./safetensors-reader.js";
import { SafetensorsWriter, writeSafetensors } from "./safetensors-writer.js";

const code = (c: string) => expect.objectContaining({ name: "SafetensorsError", code: c });

describe("safetensors reader and writer", () => {
  it("round-trips F32, BF16, F16 and raw integer tensors", async () => {
    const dir = await tempDir();
    const p = path.join(dir, "m.safetensors");
    const w = new Float32Array([1.5, -2.25, 3.0000002, 1e-3, 65504, -0]);
    const ids = new BigInt64Array([1n, -2n, 3n]);
    await writeSafetensors({
      path: p,
      tensors: [
        { name: "w.f32", dtype: "F32", shape: [2, 3], data: w },
        { name: "w.bf16", dtype: "BF16", shape: [6], data: w },
        { name: "w.f16", dtype: "F16", shape: [3, 2], data: w },
        { name: "ids", dtype: "I64", shape: [3], data: ids },
        { name: "scalar", dtype: "F32", shape: [], data: new Float32Array([7]) },
      ],
    });
    const f = await SafetensorsFile.open(p);
    try {
      expect(f.metadata).toEqual({ format: "pt" });
      expect(f.names()).toEqual(["ids", "scalar", "w.f32", "w.bf16", "w.f16"]);
      expect([...(await f.readF32("w.f32"))]).toEqual([...w]);
      expect([...(await f.readF32("w.bf16"))]).toEqual([...bf16ToF32(f32ToBf16(w))]);
      expect([...(await f.readF32("w.f16"))]).toEqual([1.5, -2.25, 3, 0.0010004043579101562, 65504, -0]);
      expect([...new BigInt64Array((await f.readBytes("ids")).buffer)]).toEqual([...ids]);
      expect(f.info("w.f16").shape).toEqual([3, 2]);
      expect([...(await f.readF32("scalar"))]).toEqual([7]);
      await expect(f.readF32("ids")).rejects.toThrow(code("UNSUPPORTED_DTYPE"));
      expect(() => f.info("nope")).toThrow(code("NO_TENSOR"));
    } finally {
      await f.close();
    }
  });

  test.prop([fc.array(fc.tuple(fc.constantFrom("F32" as const, "BF16" as const, "F16" as const), fc.array(fc.nat(5), { maxLength: 3 })), { minLength: 1, maxLength: 6 })], {
    numRuns: 25,
  })("tensors written out of order read back by name", async (specs) => {
    const dir = await tempDir();
    const p = path.join(dir, "x.safetensors");
    const tensors = specs.map(([dtype, shape], i) => {
      const n = shape.reduce((a, d) => a * d, 1);
      return { name: `t${i}`, dtype, shape, data: Float32Array.from({ length: n }, (_, j) => i + j / 4) };
    });
    const w = await SafetensorsWriter.create({ path: p, tensors });
    for (const t of [...tensors].reverse()) await w.write(t.name, t.data);
    await w.close();
    const f = await SafetensorsFile.open(p);
    for (const t of tensors) expect([...(await f.readF32(t.name))]).toEqual([...t.data]);
    await f.close();
  });

  it("writes atomically and refuses misuse", async () => {
    const dir = await tempDir();
    const p = path.join(dir, "a.safetensors");
    const w = await SafetensorsWriter.create({ path: p, tensors: [{ name: "x", dtype: "F32", shape: [2] }, { name: "y", dtype: "F32", shape: [1] }] });
    await expect(w.write("x", new Float32Array(3))).rejects.toThrow(code("SIZE_MISMATCH"));
    await expect(w.write("z", new Float32Array(1))).rejects.toThrow(code("NO_TENSOR"));
    await w.write("x", new Float32Array(2));
    await expect(w.write("x", new Float32Array(2))).rejects.toThrow(code("WRITE_ORDER"));
    expect(await readdir(dir)).not.toContain("a.safetensors");
    await expect(w.close()).rejects.toThrow(code("NO_TENSOR"));
    expect(await readdir(dir)).toEqual([]);
  });

  it("rejects a file truncated after its header was written", async () => {
    const dir = await tempDir();
    const p = path.join(dir, "t.safetensors");
    await writeSafetensors({ path: p, tensors: [{ name: "x", dtype: "F32", shape: [16], data: new Float32Array(16) }] });
    await truncate(p, 100);
    await expect(SafetensorsFile.open(p)).rejects.toThrow(code("BAD_OFFSETS"));
    await truncate(p, 40);
    await expect(SafetensorsFile.open(p)).rejects.toThrow(code("HEADER_OUT_OF_BOUNDS"));
    await writeFile(p, "");
    await expect(SafetensorsFile.open(p)).rejects.toThrow(code("TOO_SMALL"));
  });
});

describe("sharded checkpoints", () => {
  it("shards past the size cap, writes the index and reads it back", async () => {
    const dir = await tempDir();
    const specs = Array.from({ length: 5 }, (_, i) => ({ name: `layers.${i}.w`, dtype: "BF16" as const, shape: [4, 8] }));
    const w = await CheckpointWriter.create({ dir, tensors: specs, maxShardBytes: 130 });
    for (const [i, s] of specs.entries()) await w.write(s.name, Float32Array.from({ length: 32 }, (_, j) => i * 10 + j));
    await w.close();
    const files = (await readdir(dir)).sort();
    expect(files).toEqual([
      "model-00001-of-00003.safetensors",
      "model-00002-of-00003.safetensors",
      "model-00003-of-00003.safetensors",
      "model.safetensors.index.json",
    ]);
    const ck = await Checkpoint.open(dir);
    expect(ck.names().sort()).toEqual(specs.map((s) => s.name));
    expect(ck.totalBytes()).toBe(5 * 64);
    expect((await ck.readF32("layers.3.w"))[5]).toBe(35);
    await ck.close();
  });

  it("writes a single model.safetensors when it fits and opens it without an index", async () => {
    const dir = await tempDir();
    const w = await CheckpointWriter.create({ dir, tensors: [{ name: "a", dtype: "F32", shape: [2] }] });
    await w.write("a", new Float32Array([1, 2]));
    await w.close();
    expect(await readdir(dir)).toEqual(["model.safetensors"]);
    const ck = await Checkpoint.open(dir);
    expect([...(await ck.readF32("a"))]).toEqual([1, 2]);
    await ck.close();
  });

  it("rejects unsafe or inconsistent indexes", async () => {
    const dir = await tempDir();
    await expect(Checkpoint.open(dir)).rejects.toThrow(code("NOT_A_CHECKPOINT"));
    await writeSafetensors({ path: path.join(dir, "s1.safetensors"), tensors: [{ name: "a", dtype: "F32", shape: [1], data: new Float32Array(1) }] });
    const idx = path.join(dir, "model.safetensors.index.json");
    await writeFile(idx, JSON.stringify({ weight_map: { a: "../s1.safetensors" } }));
    await expect(Checkpoint.open(dir)).rejects.toThrow(code("INDEX_INVALID"));
    await writeFile(idx, JSON.stringify({ weight_map: { b: "s1.safetensors" } }));
    await expect(Checkpoint.open(dir)).rejects.toThrow(code("INDEX_INVALID"));
    await writeFile(idx, "{");
    await expect(Checkpoint.open(dir)).rejects.toThrow(code("INDEX_INVALID"));
    await writeFile(idx, JSON.stringify({ weight_map: { a: "s1.safetensors" } }));
    const ck = await Checkpoint.open(dir);
    expect(ck.names()).toEqual(["a"]);
    await ck.close();
  });
});
