import { createReadStream } from "node:fs";
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";

export interface ReadLinesOptions {
  /** Text encoding of the file, any WHATWG label (`utf-8`, `gb18030`, …). @default "utf-8" */
  encoding?: string;
}

/** Stream a text file line by line (without the line break; `\r\n` handled), decoding as it goes. */
export async function* readLines(file: string, opts: ReadLinesOptions = {}): AsyncGenerator<string> {
  const web = Readable.toWeb(createReadStream(file)) as unknown as WebReadableStream<Uint8Array>;
  const text = web.pipeThrough(new TextDecoderStream(opts.encoding ?? "utf-8") as unknown as TransformStream<Uint8Array, string>);
  let rest = "";
  for await (const chunk of text as unknown as AsyncIterable<string>) {
    rest += chunk;
    let nl = rest.indexOf("\n");
    while (nl >= 0) {
      yield rest.slice(0, nl).replace(/\r$/, "");
      rest = rest.slice(nl + 1);
      nl = rest.indexOf("\n");
    }
  }
  if (rest.length > 0) yield rest.replace(/\r$/, "");
}
