import { open } from "node:fs/promises";
import { gunzipSync } from "node:zlib";
import { statInputFile } from "./byte-source.js";

/** File formats the generic readers and writers handle (Parquet lives in `@sfmed/schema/parquet`). */
export type FileFormat = "jsonl" | "json" | "csv" | "tsv" | "parquet";

/** Format from the file name (`.gz` is stripped first); undefined when the extension says nothing. */
export function formatFromName(file: string): FileFormat | undefined {
  const name = file.toLowerCase().replace(/\.gz$/, "");
  if (name.endsWith(".jsonl") || name.endsWith(".ndjson")) return "jsonl";
  if (name.endsWith(".json")) return "json";
  if (name.endsWith(".csv")) return "csv";
  if (name.endsWith(".tsv")) return "tsv";
  if (name.endsWith(".parquet")) return "parquet";
  return undefined;
}

/**
 * Decide how to read a file. Many corpora ship JSONL under a `.json` name (MedicalGPT, BELLE), so `.json` files
 * are sniffed: a first non-blank character `[` means a JSON array, anything else JSONL.
 */
export async function detectFormat(file: string): Promise<FileFormat> {
  const byName = formatFromName(file);
  await statInputFile(file);
  if (byName && byName !== "json") return byName;
  const fh = await open(file, "r");
  let head: Buffer;
  try {
    const buf = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    head = buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
  if (head[0] === 0x1f && head[1] === 0x8b) {
    try {
      head = gunzipSync(head, { finishFlush: 2 /* Z_SYNC_FLUSH: tolerate a truncated stream */ });
    } catch {
      return byName ?? "jsonl";
    }
  }
  const text = head.toString("latin1").replace(/^\xef\xbb\xbf/, "");
  const first = text.trimStart()[0];
  if (first === "[") return "json";
  return "jsonl";
}
