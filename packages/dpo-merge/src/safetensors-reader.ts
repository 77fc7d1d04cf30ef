import { open, type FileHandle } from "node:fs/promises";
import { bf16ToF32, DTYPE_BITS, decodeToF32, uninitF32 } from "./dtype.js";
import { SafetensorsError } from "./errors.js";
import { parseHeader, readHeaderSize, type ParseHeaderOptions, type SafetensorsHeader, type TensorInfo } from "./safetensors-header.js";

async function readExactly(fh: FileHandle, buf: Uint8Array, position: number, file: string, field?: string): Promise<void> {
  let done = 0;
  while (done < buf.byteLength) {
    const { bytesRead } = await fh.read(buf, done, buf.byteLength - done, position + done);
    if (bytesRead === 0) {
      throw new SafetensorsError(`file ended after ${position + done} bytes (it shrank while open?)`, { code: "TRUNCATED", file, field });
    }
    done += bytesRead;
  }
}

/**
 * An open safetensors file. Only the header is read on open; each tensor is read from disk on request, so
 * memory holds one tensor at a time, never the whole file.
 */
export class SafetensorsFile {
  readonly path: string;
  readonly header: SafetensorsHeader;
  private readonly fh: FileHandle;
  private readonly byName: Map<string, TensorInfo>;

  private constructor(path: string, fh: FileHandle, header: SafetensorsHeader) {
    this.path = path;
    this.fh = fh;
    this.header = header;
    this.byName = new Map(header.tensors.map((t) => [t.name, t]));
  }

  /**
   * Open and validate a file (see {@link parseHeader} for the rules).
   * @throws {SafetensorsError} for any malformed header; the file handle is closed before throwing.
   */
  static async open(path: string, opts: Omit<ParseHeaderOptions, "file"> = {}): Promise<SafetensorsFile> {
    const fh = await open(path, "r");
    try {
      const { size } = await fh.stat();
      const first = new Uint8Array(8);
      if (size >= 8) await readExactly(fh, first, 0, path);
      const n = readHeaderSize(first, size, { ...opts, file: path });
      const json = new Uint8Array(n);
      await readExactly(fh, json, 8, path);
      return new SafetensorsFile(path, fh, parseHeader(json, size, { ...opts, file: path }));
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  get metadata(): Record<string, string> {
    return this.header.metadata;
  }

  /** Tensor names in file order. */
  names(): string[] {
    return this.header.tensors.map((t) => t.name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** @throws {SafetensorsError} `NO_TENSOR` when the name is absent. */
  info(name: string): TensorInfo {
    const t = this.byName.get(name);
    if (!t) throw new SafetensorsError("no such tensor", { code: "NO_TENSOR", file: this.path, field: name });
    return t;
  }

  /** The tensor's little-endian bytes, read with one positioned read into a fresh buffer. */
  async readBytes(name: string): Promise<Uint8Array> {
    const t = this.info(name);
    // allocUnsafeSlow: a buffer of its own (offset 0), so typed views over it are always aligned.
    const buf = new Uint8Array(Buffer.allocUnsafeSlow(t.byteLength).buffer, 0, t.byteLength);
    await readExactly(this.fh, buf, t.fileOffset, this.path, name);
    return buf;
  }

  /**
   * Elements [start, start + count) of a float tensor as float32, read with one positioned read, so a huge
   * tensor can be processed in bounded memory.
   * @throws {SafetensorsError} `UNSUPPORTED_DTYPE` for non-float dtypes, `BAD_OFFSETS` for a range past the end.
   */
  async readF32Range(name: string, start: number, count: number): Promise<Float32Array> {
    const t = this.info(name);
    const width = DTYPE_BITS[t.dtype] / 8;
    if (!Number.isInteger(width) || !["F32", "F16", "BF16", "F64"].includes(t.dtype)) {
      throw new SafetensorsError(`cannot decode ${t.dtype} as float`, { code: "UNSUPPORTED_DTYPE", file: this.path, field: name });
    }
    if (!(start >= 0 && count >= 0 && start + count <= t.numel)) {
      throw new SafetensorsError(`range [${start}, ${start + count}) outside ${t.numel} elements`, { code: "BAD_OFFSETS", file: this.path, field: name });
    }
    const len = count * width;
    const buf = new Uint8Array(Buffer.allocUnsafeSlow(len).buffer, 0, len);
    await readExactly(this.fh, buf, t.fileOffset + start * width, this.path, name);
    // Widen into memory that is not zeroed first: every element is overwritten.
    if (t.dtype === "BF16") return bf16ToF32(new Uint16Array(buf.buffer, 0, count), uninitF32(count));
    return decodeToF32(t.dtype, buf);
  }

  /**
   * The raw little-endian bytes of elements [start, start + count) read into `dst` (its first
   * count × element-size bytes), with one positioned read: for callers that decode in place.
   * @throws {SafetensorsError} `BAD_OFFSETS` for a range past the end or a `dst` too small.
   */
  async readRangeInto(name: string, start: number, count: number, dst: Uint8Array): Promise<void> {
    const t = this.info(name);
    const width = DTYPE_BITS[t.dtype] / 8;
    if (!Number.isInteger(width) || !(start >= 0 && count >= 0 && start + count <= t.numel) || dst.byteLength < count * width) {
      throw new SafetensorsError(`range [${start}, ${start + count}) outside ${t.numel} elements or its buffer`, { code: "BAD_OFFSETS", file: this.path, field: name });
    }
    await readExactly(this.fh, dst.subarray(0, count * width), t.fileOffset + start * width, this.path, name);
  }

  /**
   * The tensor as float32 (F16/BF16 widen exactly, F64 rounds).
   * @throws {SafetensorsError} `UNSUPPORTED_DTYPE` for integer and 8-bit float tensors.
   */
  async readF32(name: string): Promise<Float32Array> {
    const t = this.info(name);
    const bytes = await this.readBytes(name);
    try {
      return decodeToF32(t.dtype, bytes);
    } catch (e) {
      if (e instanceof SafetensorsError) throw new SafetensorsError(e.message, { code: e.code, file: this.path, field: name });
      throw e;
    }
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}
