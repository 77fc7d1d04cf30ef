import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { atomicWrite } from "@sfmed/schema";

/** JSON with object keys sorted, so equal requests hash equally whatever their key order. */
export function stableStringify(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v as object).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = sortKeys(x);
    }
    return out;
  }
  return v;
}

/**
 * Cache key of one request: SHA-256 over the endpoint path and the full JSON body (model, messages or prompt,
 * every sampling parameter). Credentials and the host are not part of it: the same model behind another URL or
 * key answers from the same cache.
 */
export function cacheKey(endpoint: string, body: unknown, salt = ""): string {
  return createHash("sha256").update(stableStringify({ v: 1, endpoint, body, salt })).digest("hex");
}

interface CacheEntry {
  key: string;
  endpoint: string;
  requestId?: string | undefined;
  savedAt: string;
  response: unknown;
}

/**
 * Successful responses on disk, one JSON file per request under `dir/ab/abcdef….json`. Writes go to a unique
 * temporary file and are renamed into place, so concurrent writers (threads or processes) never leave a torn
 * file; a reader sees either nothing or a whole entry. Unreadable entries count as misses.
 */
export class ResponseCache {
  constructor(readonly dir: string) {}

  #file(key: string): string {
    return path.join(this.dir, key.slice(0, 2), `${key}.json`);
  }

  async get(key: string): Promise<{ response: unknown; requestId?: string | undefined } | undefined> {
    let text: string;
    try {
      text = await readFile(this.#file(key), "utf8");
    } catch {
      return undefined;
    }
    try {
      const e = JSON.parse(text) as CacheEntry;
      if (e.key !== key) return undefined;
      return { response: e.response, requestId: e.requestId };
    } catch {
      return undefined;
    }
  }

  async set(key: string, endpoint: string, response: unknown, requestId?: string): Promise<void> {
    const entry: CacheEntry = { key, endpoint, requestId, savedAt: new Date().toISOString(), response };
    await atomicWrite(this.#file(key), [JSON.stringify(entry)]);
  }
}
