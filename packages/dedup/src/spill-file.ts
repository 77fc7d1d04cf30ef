import { closeSync, openSync, readSync, writeSync } from "node:fs";

/**
 * An append-only file of Int32 values with a write buffer, readable at any position once flushed. Keeps the
 * big per-document data (band keys, shingle sets, signatures) on disk so memory stays bounded.
 */
export class SpillFile {
  readonly path: string;
  private fd: number;
  private buf: Int32Array;
  private used = 0;
  private written = 0; // values on disk

  constructor(path: string, bufferValues = 1 << 16) {
    this.path = path;
    this.fd = openSync(path, "w+");
    this.buf = new Int32Array(bufferValues);
  }

  /** Number of values appended so far. */
  get length(): number {
    return this.written + this.used;
  }

  append(values: Int32Array): void {
    if (values.length > this.buf.length - this.used) {
      this.flush();
      if (values.length > this.buf.length) {
        this.writeRaw(values);
        return;
      }
    }
    this.buf.set(values, this.used);
    this.used += values.length;
  }

  flush(): void {
    if (this.used === 0) return;
    this.writeRaw(this.buf.subarray(0, this.used));
    this.used = 0;
  }

  private writeRaw(values: Int32Array): void {
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    let off = 0;
    while (off < bytes.length) off += writeSync(this.fd, bytes, off, bytes.length - off, this.written * 4 + off);
    this.written += values.length;
  }

  /** Read `count` values starting at value `pos` into `out` (flushes pending writes first). */
  read(pos: number, count: number, out: Int32Array = new Int32Array(count)): Int32Array {
    if (this.used) this.flush();
    const bytes = new Uint8Array(out.buffer, out.byteOffset, count * 4);
    let off = 0;
    while (off < bytes.length) {
      const n = readSync(this.fd, bytes, off, bytes.length - off, pos * 4 + off);
      if (n === 0) throw new RangeError(`read past the end of ${this.path}`);
      off += n;
    }
    return out.subarray(0, count);
  }

  close(): void {
    if (this.fd < 0) return;
    this.flush();
    closeSync(this.fd);
    this.fd = -1;
  }
}
