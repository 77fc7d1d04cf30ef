import { randomBytes } from "node:crypto";
import { open, rename, rm, type FileHandle } from "node:fs/promises";
import { DTYPE_BITS, encodeFromF32, isDtype, type Dtype } from "./dtype.js";
import { SafetensorsError } from "./errors.js";
import type { TensorInfo } from "./safetensors-header.js";

/** What the writer must know about a tensor before any data arrives. */
export interface TensorSpec {
  name: string;
  dtype: Dtype;
  shape: readonly number[];
}

/** Tensor data: float32 values (encoded to the spec's float dtype) or raw little-endian bytes of any typed view. */
export type TensorData = Float32Array | Uint8Array | Uint16Array | Int32Array | Uint32Array | Float64Array | BigInt64Array;

export interface SafetensorsWriterOptions {
  /** Final path; data goes to a temporary sibling that `close()` renames into place. */
  path: string;
  tensors: readonly TensorSpec[];
  /** String metadata stored first in the header. @default {format: "pt"} (what transformers expects) */
  metadata?: Record<string, string>;
}

const DTYPE_ORDER = new Map(Object.keys(DTYPE_BITS).map((d, i) => [d, i]));

function byteLengthOf(spec: TensorSpec): number {
  const numel = spec.shape.reduce((a, d) => a * d, 1);
  const bits = numel * DTYPE_BITS[spec.dtype];
  if (bits % 8 !== 0) {
    throw new SafetensorsError(`${numel} elements of ${spec.dtype} do not fill whole bytes`, { code: "SIZE_MISMATCH", field: spec.name });
  }
  return bits / 8;
}

/**
 * Lay out tensors as the reference (Rust) writer does: larger dtypes first, then by name (byte order), packed
 * back to back; the JSON header is padded with spaces to a multiple of 8 so the data section is 8-aligned.
 * @throws {SafetensorsError} for duplicate names, unknown dtypes or bad shapes.
 */
export function planLayout(
  tensors: readonly TensorSpec[],
  metadata: Record<string, string> | undefined,
): { header: Uint8Array; layout: TensorInfo[]; fileSize: number } {
  const seen = new Set<string>();
  for (const t of tensors) {
    if (t.name === "__metadata__" || seen.has(t.name)) {
      throw new SafetensorsError("duplicate or reserved tensor name", { code: "HEADER_INVALID", field: t.name });
    }
    seen.add(t.name);
    if (!isDtype(t.dtype)) throw new SafetensorsError(`unknown dtype ${String(t.dtype)}`, { code: "UNKNOWN_DTYPE", field: t.name });
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new SafetensorsError("shape must hold non-negative integers", { code: "BAD_SHAPE", field: t.name });
    }
  }
  const ordered = [...tensors].sort(
    (a, b) => DTYPE_ORDER.get(b.dtype)! - DTYPE_ORDER.get(a.dtype)! || Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)),
  );
  const json: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) json.__metadata__ = metadata;
  const rel: Array<{ spec: TensorSpec; begin: number; end: number }> = [];
  let cursor = 0;
  for (const spec of ordered) {
    const len = byteLengthOf(spec);
    rel.push({ spec, begin: cursor, end: cursor + len });
    json[spec.name] = { dtype: spec.dtype, shape: [...spec.shape], data_offsets: [cursor, cursor + len] };
    cursor += len;
  }
  let text = JSON.stringify(json);
  const raw = Buffer.byteLength(text);
  text += " ".repeat((8 - (raw % 8)) % 8);
  const header = new Uint8Array(8 + Buffer.byteLength(text));
  new DataView(header.buffer).setBigUint64(0, BigInt(header.byteLength - 8), true);
  header.set(Buffer.from(text), 8);
  const dataStart = header.byteLength;
  const layout = rel.map(({ spec, begin, end }) => ({
    name: spec.name,
    dtype: spec.dtype,
    shape: [...spec.shape],
    numel: spec.shape.reduce((a, d) => a * d, 1),
    dataOffsets: [begin, end] as [number, number],
    fileOffset: dataStart + begin,
    byteLength: end - begin,
  }));
  return { header, layout, fileSize: dataStart + cursor };
}

async function writeAll(fh: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.byteLength - done, position + done);
    done += bytesWritten;
  }
}

/**
 * Streaming safetensors writer: the header is fixed up front from the tensor specs, then each tensor's data is
 * written at its offset as it becomes available (any order), so only the tensor being written is in memory.
 * The file appears at `path` only when `close()` succeeds.
 */
export class SafetensorsWriter {
  readonly path: string;
  readonly layout: readonly TensorInfo[];
  readonly fileSize: number;
  private readonly tmp: string;
  private readonly fh: FileHandle;
  private readonly byName: Map<string, TensorInfo>;
  private readonly pending: Set<string>;
  private readonly written = new Map<string, number>();

  private constructor(path: string, tmp: string, fh: FileHandle, layout: TensorInfo[], fileSize: number) {
    this.path = path;
    this.tmp = tmp;
    this.fh = fh;
    this.layout = layout;
    this.fileSize = fileSize;
    this.byName = new Map(layout.map((t) => [t.name, t]));
    this.pending = new Set(layout.map((t) => t.name));
  }

  /** @throws {SafetensorsError} when the specs are invalid (see {@link planLayout}). */
  static async create(opts: SafetensorsWriterOptions): Promise<SafetensorsWriter> {
    const { header, layout, fileSize } = planLayout(opts.tensors, opts.metadata ?? { format: "pt" });
    const tmp = `${opts.path}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
    const fh = await open(tmp, "wx");
    try {
      await writeAll(fh, header, 0);
      await fh.truncate(fileSize);
    } catch (e) {
      await fh.close();
      await rm(tmp, { force: true });
      throw e;
    }
    return new SafetensorsWriter(opts.path, tmp, fh, layout, fileSize);
  }

  /**
   * Write one tensor. A Float32Array is encoded to the declared float dtype (BF16/F16 round to nearest even);
   * any other view is taken as the raw little-endian bytes and must have the exact length.
   * @throws {SafetensorsError} `NO_TENSOR` for an undeclared name, `WRITE_ORDER` when written twice,
   * `SIZE_MISMATCH` when the length is wrong.
   */
  async write(name: string, data: TensorData): Promise<void> {
    const t = this.byName.get(name);
    if (!t) throw new SafetensorsError("tensor was not declared when the writer was created", { code: "NO_TENSOR", file: this.path, field: name });
    if (!this.pending.has(name)) throw new SafetensorsError("tensor written twice", { code: "WRITE_ORDER", file: this.path, field: name });
    let bytes: Uint8Array;
    if (data instanceof Float32Array) {
      if (data.length !== t.numel) {
        throw new SafetensorsError(`${data.length} values for ${t.numel} elements`, { code: "SIZE_MISMATCH", file: this.path, field: name });
      }
      bytes = encodeFromF32(t.dtype, data);
    } else {
      bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    }
    if (bytes.byteLength !== t.byteLength) {
      throw new SafetensorsError(`${bytes.byteLength} bytes for a ${t.byteLength}-byte tensor`, { code: "SIZE_MISMATCH", file: this.path, field: name });
    }
    await writeAll(this.fh, bytes, t.fileOffset);
    this.pending.delete(name);
  }

  /**
   * Write elements [start, start + data.length) of a float tensor (encoded to its dtype). The tensor counts as
   * written once its chunks add up to its size; chunks must not overlap.
   * @throws {SafetensorsError} `NO_TENSOR`, `UNSUPPORTED_DTYPE`, `BAD_OFFSETS` for a range past the end.
   */
  async writeF32Range(name: string, start: number, data: Float32Array): Promise<void> {
    const t = this.byName.get(name);
    if (!t) throw new SafetensorsError("tensor was not declared when the writer was created", { code: "NO_TENSOR", file: this.path, field: name });
    if (!this.pending.has(name)) throw new SafetensorsError("tensor written twice", { code: "WRITE_ORDER", file: this.path, field: name });
    if (!(start >= 0 && start + data.length <= t.numel)) {
      throw new SafetensorsError(`range [${start}, ${start + data.length}) outside ${t.numel} elements`, { code: "BAD_OFFSETS", file: this.path, field: name });
    }
    await this.writeEncoded(t, start, encodeFromF32(t.dtype, data));
  }

  /**
   * Write elements [start, …) of a tensor from bytes already in its dtype (little-endian), e.g. bf16 rounded
   * elsewhere. Same bookkeeping as {@link writeF32Range}.
   * @throws {SafetensorsError} `NO_TENSOR`, `WRITE_ORDER`, `BAD_OFFSETS` for a range past the end or a length
   * that is not a whole number of elements.
   */
  async writeBytesRange(name: string, start: number, bytes: Uint8Array): Promise<void> {
    const t = this.byName.get(name);
    if (!t) throw new SafetensorsError("tensor was not declared when the writer was created", { code: "NO_TENSOR", file: this.path, field: name });
    if (!this.pending.has(name)) throw new SafetensorsError("tensor written twice", { code: "WRITE_ORDER", file: this.path, field: name });
    const width = t.numel === 0 ? 1 : t.byteLength / t.numel;
    const count = bytes.byteLength / width;
    if (!(Number.isInteger(count) && start >= 0 && start + count <= t.numel)) {
      throw new SafetensorsError(`${bytes.byteLength} bytes at element ${start} do not fit ${t.numel} elements`, { code: "BAD_OFFSETS", file: this.path, field: name });
    }
    await this.writeEncoded(t, start, bytes);
  }

  private async writeEncoded(t: TensorInfo, start: number, bytes: Uint8Array): Promise<void> {
    const width = t.numel === 0 ? 0 : t.byteLength / t.numel;
    await writeAll(this.fh, bytes, t.fileOffset + start * width);
    const done = (this.written.get(t.name) ?? 0) + bytes.byteLength;
    this.written.set(t.name, done);
    if (done >= t.byteLength) this.pending.delete(t.name);
  }

  /** Names still to be written. */
  missing(): string[] {
    return [...this.pending];
  }

  /**
   * Flush, close and rename into place.
   * @throws {SafetensorsError} `NO_TENSOR` if some declared tensor was never written (the temp file is removed).
   */
  async close(): Promise<void> {
    if (this.pending.size > 0) {
      const first = this.pending.values().next().value as string;
      await this.abort();
      throw new SafetensorsError(`${this.pending.size} declared tensor(s) never written`, { code: "NO_TENSOR", file: this.path, field: first });
    }
    await this.fh.sync();
    await this.fh.close();
    await rename(this.tmp, this.path);
  }

  /** Drop the partial file. */
  async abort(): Promise<void> {
    await this.fh.close().catch(() => undefined);
    await rm(this.tmp, { force: true });
  }
}

/** Write a whole safetensors file from in-memory tensors (small files, tests, fixtures). */
export async function writeSafetensors(opts: {
  path: string;
  tensors: ReadonlyArray<TensorSpec & { data: TensorData }>;
  metadata?: Record<string, string>;
}): Promise<void> {
  const w = await SafetensorsWriter.create({ path: opts.path, tensors: opts.tensors, ...(opts.metadata ? { metadata: opts.metadata } : {}) });
  try {
    for (const t of opts.tensors) await w.write(t.name, t.data);
  } catch (e) {
    await w.abort();
    throw e;
  }
  await w.close();
}
