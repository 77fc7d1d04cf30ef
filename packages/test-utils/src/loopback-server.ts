import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { onTestFinished } from "vitest";

export interface LoopbackServer {
  /** e.g. `http://127.0.0.1:41234` (no trailing slash). */
  url: string;
  /** Every request seen, in order, with its body read as text. */
  requests: Array<{ method: string; url: string; headers: IncomingMessage["headers"]; body: string }>;
  close(): Promise<void>;
}

/** `body` is the request body as UTF-8 text, `raw` the same bytes untouched (binary uploads). */
export type Handler = (req: IncomingMessage & { body: string; raw: Buffer }, res: ServerResponse) => void | Promise<void>;

/** An HTTP server on 127.0.0.1 with a random port, closed when the current test finishes. */
export async function loopbackServer(handler: Handler, opts: { autoClose?: boolean } = {}): Promise<LoopbackServer> {
  const requests: LoopbackServer["requests"] = [];
  const sockets = new Set<import("node:net").Socket>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = Buffer.concat(chunks);
      const body = raw.toString("utf8");
      requests.push({ method: req.method ?? "GET", url: req.url ?? "/", headers: req.headers, body });
      Promise.resolve(handler(Object.assign(req, { body, raw }), res)).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
        res.end(String(err));
      });
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    });
  if (opts.autoClose !== false) onTestFinished(close);
  return { url: `http://127.0.0.1:${port}`, requests, close };
}

/** Reply with a JSON body. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify(body));
}
