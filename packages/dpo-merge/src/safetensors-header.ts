import { DTYPE_BITS, isDtype, type Dtype } from "./dtype.js";
import { SafetensorsError } from "./errors.js";

/** One tensor entry of a safetensors header, with absolute byte positions in the file. */
export interface TensorInfo {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Element count (product of the shape; 1 for a scalar). */
  numel: number;
  /** Offsets relative to the data section, as in the header; end exclusive. */
  dataOffsets: [number, number];
  /** Absolute file position of the first byte. */
  fileOffset: number;
  byteLength: number;
}

export interface SafetensorsHeader {
  /** Length of the JSON header (the u64 at the start of the file). */
  headerSize: number;
  /** Absolute position of the data section (8 + headerSize). */
  dataStart: number;
  /** Tensors in the order of their data offsets. */
  tensors: TensorInfo[];
  metadata: Record<string, string>;
}

/** Largest accepted header, as in the Rust reader. */
export const MAX_HEADER_SIZE = 100_000_000;

export interface ParseHeaderOptions {
  /** File name used in error messages. */
  file?: string | undefined;
  /** @default 100_000_000 */
  maxHeaderSize?: number;
}

/**
 * Read the header length from the first 8 bytes and check it fits the cap and the file.
 * @throws {SafetensorsError} `TOO_SMALL`, `HEADER_TOO_LARGE`, `HEADER_OUT_OF_BOUNDS`.
 */
export function readHeaderSize(first8: Uint8Array, fileSize: number, opts: ParseHeaderOptions = {}): number {
  const file = opts.file;
  if (fileSize < 8 || first8.byteLength < 8) {
    throw new SafetensorsError(`file has ${fileSize} bytes, fewer than the 8-byte header length`, { code: "TOO_SMALL", file });
  }
  const n = new DataView(first8.buffer, first8.byteOffset, 8).getBigUint64(0, true);
  const cap = BigInt(opts.maxHeaderSize ?? MAX_HEADER_SIZE);
  if (n > cap) throw new SafetensorsError(`header length ${n} exceeds the ${cap}-byte cap`, { code: "HEADER_TOO_LARGE", file });
  if (8n + n > BigInt(fileSize)) {
    throw new SafetensorsError(`header length ${n} runs past the end of the ${fileSize}-byte file`, {
      code: "HEADER_OUT_OF_BOUNDS",
      file,
    });
  }
  return Number(n);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isIndex(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Parse and validate the JSON header bytes of a file of `fileSize` bytes: known dtypes, integral shapes,
 * shape × dtype size equal to the byte span, spans that tile the data section from 0 to the end of the file
 * with no hole and no overlap, and string-valued `__metadata__`.
 * @throws {SafetensorsError} with a code naming the first violated rule and the tensor it concerns.
 */
export function parseHeader(json: Uint8Array, fileSize: number, opts: ParseHeaderOptions = {}): SafetensorsHeader {
  const file = opts.file;
  const headerSize = json.byteLength;
  if (headerSize === 0 || json[0] !== 0x7b) {
    throw new SafetensorsError("header must be a JSON object starting with '{'", { code: "HEADER_NOT_JSON", file });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(json));
  } catch (cause) {
    throw new SafetensorsError("header is not valid UTF-8 JSON", { code: "HEADER_NOT_JSON", file, cause });
  }
  if (!isPlainObject(raw)) throw new SafetensorsError("header is not a JSON object", { code: "HEADER_INVALID", file });

  const dataStart = 8 + headerSize;
  const dataSize = fileSize - dataStart;
  let metadata: Record<string, string> = {};
  const tensors: TensorInfo[] = [];
  for (const [name, entry] of Object.entries(raw)) {
    if (name === "__metadata__") {
      if (!isPlainObject(entry) || !Object.values(entry).every((v) => typeof v === "string")) {
        throw new SafetensorsError("__metadata__ must map strings to strings", { code: "HEADER_INVALID", file, field: name });
      }
      metadata = entry as Record<string, string>;
      continue;
    }
    if (!isPlainObject(entry)) throw new SafetensorsError("entry is not an object", { code: "HEADER_INVALID", file, field: name });
    const { dtype, shape, data_offsets: offsets } = entry;
    if (!isDtype(dtype)) {
      throw new SafetensorsError(`unknown dtype ${JSON.stringify(dtype)}`, { code: "UNKNOWN_DTYPE", file, field: name });
    }
    if (!Array.isArray(shape) || !shape.every(isIndex)) {
      throw new SafetensorsError("shape must be an array of non-negative integers", { code: "BAD_SHAPE", file, field: name });
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !isIndex(offsets[0]) || !isIndex(offsets[1]) || offsets[0] > offsets[1]) {
      throw new SafetensorsError("data_offsets must be [begin, end] with 0 <= begin <= end", { code: "BAD_OFFSETS", file, field: name });
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataSize) {
      throw new SafetensorsError(`data_offsets end ${end} is past the ${dataSize}-byte data section`, {
        code: "BAD_OFFSETS",
        file,
        field: name,
      });
    }
    // BigInt: a hostile shape can overflow doubles long before it is compared with the span.
    const numel = (shape as number[]).reduce((a, d) => a * BigInt(d), 1n);
    const bits = numel * BigInt(DTYPE_BITS[dtype]);
    if (bits % 8n !== 0n || bits / 8n !== BigInt(end - begin)) {
      throw new SafetensorsError(`shape [${shape.join(",")}] of ${dtype} needs ${bits} bits but the span holds ${end - begin} bytes`, {
        code: "SIZE_MISMATCH",
        file,
        field: name,
      });
    }
    tensors.push({
      name,
      dtype,
      shape: shape as number[],
      numel: Number(numel),
      dataOffsets: [begin, end],
      fileOffset: dataStart + begin,
      byteLength: end - begin,
    });
  }
  tensors.sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let cursor = 0;
  for (const t of tensors) {
    const [begin, end] = t.dataOffsets;
    if (begin < cursor) throw new SafetensorsError(`data [${begin}, ${end}) overlaps the previous tensor (ends at ${cursor})`, { code: "OVERLAP", file, field: t.name });
    if (begin > cursor) throw new SafetensorsError(`hole of ${begin - cursor} bytes before this tensor`, { code: "HOLE", file, field: t.name });
    cursor = end;
  }
  if (cursor !== dataSize) {
    throw new SafetensorsError(`${dataSize - cursor} bytes after the last tensor`, { code: "TRAILING_BYTES", file });
  }
  return { headerSize, dataStart, tensors, metadata };
}
