import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import { once } from "node:events";
import path from "node:path";
import { registerTemp, tempPathFor } from "./temp-files.js";

/**
 * A file written piece by piece through a temp file beside it and renamed into place by `commit()` (or removed
 * by `abort()`), so readers never see a half-written file. Pieces are gathered into large writes.
 */
export class AtomicFile {
  private readonly tmp: string;
  private stream: WriteStream | undefined;
  private buf: Buffer;
  private used = 0;
  private unregister: (() => void) | undefined;

  /** @param bufferBytes size of the gathered writes. @default 1 MiB */
  constructor(readonly file: string, bufferBytes = 1 << 20) {
    this.tmp = tempPathFor(file);
    this.buf = Buffer.allocUnsafe(bufferBytes);
  }

  /** Append UTF-8 text or bytes; resolves once a full buffer has been handed to the file. */
  async write(data: string | Uint8Array): Promise<void> {
    const n = typeof data === "string" ? Buffer.byteLength(data) : data.length;
    if (this.used + n > this.buf.length) {
      await this.flush();
      if (n > this.buf.length) this.buf = Buffer.allocUnsafe(2 * n);
    }
    if (typeof data === "string") this.buf.write(data, this.used);
    else this.buf.set(data, this.used);
    this.used += n;
  }

  /** Flush, close and rename the temp file over `file`. */
  async commit(): Promise<void> {
    await this.flush();
    const s = await this.open();
    s.end();
    await once(s, "finish");
    await rename(this.tmp, this.file);
    this.unregister?.();
  }

  /** Drop everything written: the temp file is removed and `file` is left as it was. */
  async abort(): Promise<void> {
    this.stream?.destroy();
    await rm(this.tmp, { force: true });
    this.unregister?.();
  }

  private async open(): Promise<WriteStream> {
    if (!this.stream) {
      await mkdir(path.dirname(path.resolve(this.file)), { recursive: true });
      this.unregister = registerTemp(this.tmp);
      this.stream = createWriteStream(this.tmp);
    }
    return this.stream;
  }

  private async flush(): Promise<void> {
    if (!this.used) return;
    const s = await this.open();
    const out = this.buf.subarray(0, this.used);
    this.buf = Buffer.allocUnsafe(this.buf.length); // the stream holds on to `out` until it is written
    this.used = 0;
    if (!s.write(out)) await once(s, "drain");
  }
}
