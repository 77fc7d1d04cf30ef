import { readFile } from "node:fs/promises";
import { atomicWrite } from "@sfmed/schema";
import { PrivacyProbeError } from "../errors.js";

/**
 * The on-disk layout of vector files (index, high-risk database):
 *
 *   bytes 0–7   magic `SFMEDVEC`
 *   bytes 8–11  header length H (uint32, little-endian)
 *   12…12+H     JSON header (UTF-8), padded with spaces so the data starts on a 4-byte boundary
 *   then        the matrices, row-major little-endian float32, in header order
 *
 * The header names every matrix with its row count and width, so a reader checks the file size before trusting it.
 */
export const VECTOR_FILE_MAGIC = "SFMEDVEC";

export interface MatrixSpec {
  name: string;
  rows: number;
  dim: number;
}

export interface VectorFileHeader {
  version: 1;
  kind: string;
  matrices: MatrixSpec[];
  [key: string]: unknown;
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function toLE(data: Float32Array): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (littleEndian) return bytes;
  const out = new Uint8Array(bytes.length);
  const view = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i]!, true);
  return out;
}

/**
 * Write a header and matrices atomically (temporary file + rename).
 * @throws {PrivacyProbeError} code `DIM_MISMATCH` when a matrix's length is not rows × dim
 */
export async function writeVectorFile(file: string, header: Omit<VectorFileHeader, "matrices">, matrices: Array<{ name: string; dim: number; data: Float32Array }>): Promise<void> {
  const specs: MatrixSpec[] = matrices.map((m) => {
    const rows = m.dim > 0 ? m.data.length / m.dim : 0;
    if (!Number.isInteger(rows)) throw new PrivacyProbeError(`matrix ${m.name}: length ${m.data.length} is not a multiple of dim ${m.dim}`, { code: "DIM_MISMATCH", file });
    return { name: m.name, rows, dim: m.dim };
  });
  let json = JSON.stringify({ ...header, matrices: specs });
  const jsonBytes = () => Buffer.byteLength(json, "utf8");
  while ((12 + jsonBytes()) % 4 !== 0) json += " ";
  const head = Buffer.alloc(12);
  head.write(VECTOR_FILE_MAGIC, 0, "latin1");
  head.writeUInt32LE(jsonBytes(), 8);
  const parts = [head, Buffer.from(json, "utf8"), ...matrices.map((m) => toLE(m.data))];
  await atomicWrite(file, [Buffer.concat(parts)], { gzip: false });
}

/**
 * Read a vector file written by {@link writeVectorFile}.
 * @throws {PrivacyProbeError} code `BAD_FILE` for a wrong magic, a broken header, another version, another `kind`
 * than `expectKind`, or a size that does not match the header
 */
export async function readVectorFile(file: string, expectKind?: string): Promise<{ header: VectorFileHeader; matrices: Map<string, { dim: number; data: Float32Array }> }> {
  const buf = await readFile(file);
  const bad = (why: string) => new PrivacyProbeError(why, { code: "BAD_FILE", file });
  if (buf.length < 12 || buf.toString("latin1", 0, 8) !== VECTOR_FILE_MAGIC) throw bad("not a vector file (bad magic)");
  const hlen = buf.readUInt32LE(8);
  if (12 + hlen > buf.length) throw bad("header runs past the end of the file");
  let header: VectorFileHeader;
  try {
    header = JSON.parse(buf.toString("utf8", 12, 12 + hlen)) as VectorFileHeader;
  } catch (cause) {
    throw new PrivacyProbeError("header is not JSON", { code: "BAD_FILE", file, cause });
  }
  if (header.version !== 1) throw bad(`unsupported version ${String(header.version)}`);
  if (expectKind && header.kind !== expectKind) throw bad(`expected a ${expectKind} file, got ${String(header.kind)}`);
  if (!Array.isArray(header.matrices)) throw bad("header has no matrices");
  let at = 12 + hlen;
  const matrices = new Map<string, { dim: number; data: Float32Array }>();
  for (const m of header.matrices) {
    const n = m.rows * m.dim;
    if (!Number.isInteger(n) || n < 0 || at + n * 4 > buf.length) throw bad(`matrix ${m.name} runs past the end of the file`);
    const data = new Float32Array(n);
    if (littleEndian) data.set(new Float32Array(buf.buffer.slice(buf.byteOffset + at, buf.byteOffset + at + n * 4)));
    else for (let i = 0; i < n; i++) data[i] = buf.readFloatLE(at + i * 4);
    matrices.set(m.name, { dim: m.dim, data });
    at += n * 4;
  }
  if (at !== buf.length) throw bad(`${buf.length - at} unexpected bytes after the matrices`);
  return { header, matrices };
}
