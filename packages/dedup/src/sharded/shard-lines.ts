/** The records of a shard: its segments' non-blank lines, with the byte offset and length of each. */
import { open } from "node:fs/promises";
import { isBlankLine } from "../jsonl-batch.js";
import type { Segment } from "./plan.js";

export interface ShardLine {
  /** Input file index in the plan. */
  file: number;
  /** Byte offset of the line's first byte in its file. */
  offset: number;
  /** The line's bytes without its line break (LF or CRLF); valid until the next line is read. */
  bytes: Uint8Array;
}

const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** True when a line holds a character other than white space (the rule the JSONL readers skip blank lines by). */
export function hasContent(bytes: Uint8Array): boolean {
  let high = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b >= 0x80) high = true;
    else if (b !== 32 && (b < 9 || b > 13)) return true;
  }
  return high && !isBlankLine(decoder.decode(bytes));
}

/**
 * Every non-blank line of the segments in order. A file's leading BOM is skipped (as the one-machine path does),
 * a CR before the LF is not part of the line.
 */
export async function* shardLines(files: readonly string[], segments: readonly Segment[], chunkBytes = 1 << 20): AsyncGenerator<ShardLine> {
  for (const seg of segments) {
    const fh = await open(files[seg.file]!, "r");
    try {
      let buf = Buffer.allocUnsafe(chunkBytes);
      let used = 0; // bytes of buf holding data not yet split
      let bufStart = seg.start; // file offset of buf[0]
      let pos = seg.start;
      let first = seg.start === 0;
      while (pos < seg.end || used > 0) {
        if (pos < seg.end) {
          if (used === buf.length) {
            const big = Buffer.allocUnsafe(buf.length * 2);
            buf.copy(big, 0, 0, used);
            buf = big;
          }
          const { bytesRead } = await fh.read(buf, used, Math.min(buf.length - used, seg.end - pos), pos);
          if (bytesRead === 0) break;
          pos += bytesRead;
          used += bytesRead;
        }
        const atEnd = pos >= seg.end;
        let start = 0;
        if (first) {
          if (used < 3 && !atEnd) continue; // not enough bytes yet to tell a BOM
          first = false;
          if (used >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) start = 3;
        }
        for (;;) {
          let nl = buf.indexOf(10, start);
          if (nl < 0 || nl >= used) {
            if (!atEnd || start >= used) break;
            nl = used; // last line without a line break
          }
          const end = nl > start && buf[nl - 1] === 13 ? nl - 1 : nl;
          const bytes = buf.subarray(start, end);
          if (hasContent(bytes)) yield { file: seg.file, offset: bufStart + start, bytes };
          start = nl + 1;
        }
        if (start >= used) {
          bufStart += used;
          used = 0;
        } else {
          buf.copy(buf, 0, start, used);
          used -= start;
          bufStart += start;
        }
        if (atEnd && used === 0) break;
      }
    } finally {
      await fh.close();
    }
  }
}
