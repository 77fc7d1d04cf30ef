import { existsSync } from "node:fs";
import { readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { DTYPE_BITS } from "./dtype.js";
import { SafetensorsError } from "./errors.js";
import type { TensorInfo } from "./safetensors-header.js";
import { SafetensorsFile } from "./safetensors-reader.js";
import { SafetensorsWriter, type TensorData, type TensorSpec } from "./safetensors-writer.js";

export const INDEX_FILE = "model.safetensors.index.json";
export const SINGLE_FILE = "model.safetensors";

/** A shard file name from an index must be a plain name inside the checkpoint folder. */
function checkShardName(name: unknown, file: string, tensor: string): string {
  if (typeof name !== "string" || name === "" || name === "." || name === ".." || /[\\/\0]/.test(name) || path.isAbsolute(name)) {
    throw new SafetensorsError(`weight_map entry ${JSON.stringify(name)} is not a plain file name in the folder`, {
      code: "INDEX_INVALID",
      file,
      field: tensor,
    });
  }
  return name;
}

/**
 * A model checkpoint in HF layout: one `model.safetensors`, or shards listed by `model.safetensors.index.json`
 * (`weight_map`: tensor → shard file). Every shard header is validated on open; tensors are read one at a time.
 */
export class Checkpoint {
  readonly dir: string;
  private readonly shards: Map<string, SafetensorsFile>;
  private readonly where: Map<string, SafetensorsFile>;

  private constructor(dir: string, shards: Map<string, SafetensorsFile>, where: Map<string, SafetensorsFile>) {
    this.dir = dir;
    this.shards = shards;
    this.where = where;
  }

  /**
   * Open a checkpoint folder (or a single `.safetensors` file).
   * @throws {SafetensorsError} `NOT_A_CHECKPOINT` when neither file exists, `INDEX_INVALID` for a bad index
   * (unsafe shard names, tensors missing from their shard), or any header error from a shard.
   */
  static async open(location: string): Promise<Checkpoint> {
    const st = await stat(location).catch(() => undefined);
    if (st?.isFile()) {
      const f = await SafetensorsFile.open(location);
      return new Checkpoint(path.dirname(location), new Map([[path.basename(location), f]]), new Map(f.names().map((n) => [n, f])));
    }
    const indexPath = path.join(location, INDEX_FILE);
    const shards = new Map<string, SafetensorsFile>();
    const where = new Map<string, SafetensorsFile>();
    try {
      if (existsSync(indexPath)) {
        let index: unknown;
        try {
          index = JSON.parse(await readFile(indexPath, "utf8"));
        } catch (cause) {
          throw new SafetensorsError("index is not valid JSON", { code: "INDEX_INVALID", file: indexPath, cause });
        }
        const map = (index as { weight_map?: unknown } | null)?.weight_map;
        if (typeof map !== "object" || map === null || Array.isArray(map)) {
          throw new SafetensorsError("index has no weight_map object", { code: "INDEX_INVALID", file: indexPath });
        }
        for (const [tensor, shardName] of Object.entries(map)) {
          const name = checkShardName(shardName, indexPath, tensor);
          let f = shards.get(name);
          if (!f) {
            f = await SafetensorsFile.open(path.join(location, name));
            shards.set(name, f);
          }
          if (!f.has(tensor)) {
            throw new SafetensorsError(`index puts this tensor in ${name}, which lacks it`, { code: "INDEX_INVALID", file: indexPath, field: tensor });
          }
          where.set(tensor, f);
        }
      } else if (existsSync(path.join(location, SINGLE_FILE))) {
        const f = await SafetensorsFile.open(path.join(location, SINGLE_FILE));
        shards.set(SINGLE_FILE, f);
        for (const n of f.names()) where.set(n, f);
      } else {
        throw new SafetensorsError(`neither ${INDEX_FILE} nor ${SINGLE_FILE} found`, { code: "NOT_A_CHECKPOINT", file: location });
      }
    } catch (e) {
      await Promise.all([...shards.values()].map((f) => f.close()));
      throw e;
    }
    return new Checkpoint(location, shards, where);
  }

  /** Tensor names, in shard order then file order. */
  names(): string[] {
    return [...this.where.keys()];
  }

  has(name: string): boolean {
    return this.where.has(name);
  }

  private file(name: string): SafetensorsFile {
    const f = this.where.get(name);
    if (!f) throw new SafetensorsError("no such tensor in the checkpoint", { code: "NO_TENSOR", file: this.dir, field: name });
    return f;
  }

  info(name: string): TensorInfo {
    return this.file(name).info(name);
  }

  readF32(name: string): Promise<Float32Array> {
    return this.file(name).readF32(name);
  }

  readBytes(name: string): Promise<Uint8Array> {
    return this.file(name).readBytes(name);
  }

  readF32Range(name: string, start: number, count: number): Promise<Float32Array> {
    return this.file(name).readF32Range(name, start, count);
  }

  /** See {@link SafetensorsFile.readRangeInto}. */
  readRangeInto(name: string, start: number, count: number, dst: Uint8Array): Promise<void> {
    return this.file(name).readRangeInto(name, start, count, dst);
  }

  /** Total bytes of tensor data. */
  totalBytes(): number {
    let n = 0;
    for (const name of this.where.keys()) n += this.info(name).byteLength;
    return n;
  }

  async close(): Promise<void> {
    await Promise.all([...this.shards.values()].map((f) => f.close()));
  }
}

export interface CheckpointWriterOptions {
  /** Existing folder to write the shard files (and index) into. */
  dir: string;
  tensors: readonly TensorSpec[];
  /** A new shard starts when the next tensor would push the current one past this. @default 5_000_000_000 */
  maxShardBytes?: number;
  metadata?: Record<string, string>;
}

/**
 * Writes a checkpoint as HF does: `model.safetensors` when it fits one shard, else
 * `model-0000i-of-0000N.safetensors` plus `model.safetensors.index.json` ({metadata.total_size, weight_map}).
 */
export class CheckpointWriter {
  readonly shardOf: ReadonlyMap<string, string>;
  private readonly writers: SafetensorsWriter[];
  private readonly byName: Map<string, SafetensorsWriter>;
  private readonly dir: string;
  private readonly totalSize: number;

  private constructor(dir: string, writers: SafetensorsWriter[], shardOf: Map<string, string>, totalSize: number) {
    this.dir = dir;
    this.writers = writers;
    this.shardOf = shardOf;
    this.totalSize = totalSize;
    this.byName = new Map();
    for (const w of writers) for (const t of w.layout) this.byName.set(t.name, w);
  }

  static async create(opts: CheckpointWriterOptions): Promise<CheckpointWriter> {
    const max = opts.maxShardBytes ?? 5_000_000_000;
    const groups: TensorSpec[][] = [[]];
    let current = 0;
    let total = 0;
    for (const spec of opts.tensors) {
      const size = (spec.shape.reduce((a, d) => a * d, 1) * DTYPE_BITS[spec.dtype]) / 8;
      if (current > 0 && current + size > max) {
        groups.push([]);
        current = 0;
      }
      groups[groups.length - 1]!.push(spec);
      current += size;
      total += size;
    }
    const n = groups.length;
    const pad = (i: number) => String(i).padStart(5, "0");
    const names = groups.map((_, i) => (n === 1 ? "model.safetensors" : `model-${pad(i + 1)}-of-${pad(n)}.safetensors`));
    const writers: SafetensorsWriter[] = [];
    const shardOf = new Map<string, string>();
    try {
      for (let i = 0; i < n; i++) {
        writers.push(
          await SafetensorsWriter.create({
            path: path.join(opts.dir, names[i]!),
            tensors: groups[i]!,
            metadata: opts.metadata ?? { format: "pt" },
          }),
        );
        for (const t of groups[i]!) shardOf.set(t.name, names[i]!);
      }
    } catch (e) {
      await Promise.all(writers.map((w) => w.abort()));
      throw e;
    }
    return new CheckpointWriter(opts.dir, writers, shardOf, total);
  }

  async write(name: string, data: TensorData): Promise<void> {
    const w = this.byName.get(name);
    if (!w) throw new SafetensorsError("tensor was not declared", { code: "NO_TENSOR", file: this.dir, field: name });
    await w.write(name, data);
  }

  /** See {@link SafetensorsWriter.writeF32Range}. */
  async writeF32Range(name: string, start: number, data: Float32Array): Promise<void> {
    const w = this.byName.get(name);
    if (!w) throw new SafetensorsError("tensor was not declared", { code: "NO_TENSOR", file: this.dir, field: name });
    await w.writeF32Range(name, start, data);
  }

  /** See {@link SafetensorsWriter.writeBytesRange}. */
  async writeBytesRange(name: string, start: number, bytes: Uint8Array): Promise<void> {
    const w = this.byName.get(name);
    if (!w) throw new SafetensorsError("tensor was not declared", { code: "NO_TENSOR", file: this.dir, field: name });
    await w.writeBytesRange(name, start, bytes);
  }

  /** Close every shard and write the index when there is more than one. */
  async close(): Promise<void> {
    for (const w of this.writers) await w.close();
    if (this.writers.length > 1) {
      const weight_map = Object.fromEntries([...this.shardOf.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
      await writeFile(path.join(this.dir, INDEX_FILE), JSON.stringify({ metadata: { total_size: this.totalSize }, weight_map }, null, 2) + "\n");
    }
  }

  async abort(): Promise<void> {
    await Promise.all(this.writers.map((w) => w.abort()));
  }
}
