// `@sfmed/schema/io` keeps zod (and csv-parse) off the read path: a child process records every module it
// resolves while it reads a JSONL file with and without a record kind.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import * as io from "./io.js";
import * as root from "./index.js";
import { isRecordKind, RECORD_KINDS } from "./record-kinds.js";
import { recordSchemas } from "./records.js";

const here = path.dirname(new URL(import.meta.url).pathname);

function resolvedWhileReading(kind: string | undefined): string[] {
  const dir = mkdtempSync(path.join(tmpdir(), "sfmed-io-entry-"));
  const log = path.join(dir, "resolved.txt");
  writeFileSync(log, "");
  writeFileSync(path.join(dir, "in.jsonl"), `${JSON.stringify({ id: "a", text: "胸闷气短三天" })}\n`);
  const hooks = path.join(dir, "hooks.mjs");
  writeFileSync(hooks, `import { appendFileSync } from "node:fs";\nexport async function resolve(s, c, next) { const r = await next(s, c); appendFileSync(${JSON.stringify(log)}, r.url + "\\n"); return r; }\n`);
  const main = path.join(dir, "main.mjs");
  writeFileSync(
    main,
    `import { register } from "node:module";
register(${JSON.stringify(pathToFileURL(hooks).href)});
const { readRecords } = await import(${JSON.stringify(pathToFileURL(path.join(here, "io.ts")).href)});
const { appendFileSync } = await import("node:fs");
appendFileSync(${JSON.stringify(log)}, "-- loaded\\n");
let n = 0;
for await (const r of readRecords(${JSON.stringify(path.join(dir, "in.jsonl"))}, ${JSON.stringify(kind ? { kind } : {})})) n += r.record.id === "a" ? 1 : 0;
if (n !== 1) throw new Error("expected one record, got " + n);
`,
  );
  const r = spawnSync(process.execPath, ["--conditions=@sfmed/source", "--import", "tsx", main], { cwd: here, encoding: "utf8", timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return readFileSync(log, "utf8").trim().split("\n");
}

const heavy = (urls: string[]) => urls.filter((u) => /node_modules\/(zod|csv-parse|csv-stringify)\/|\/records\.ts$|\/validate\.ts$/.test(u));

describe("@sfmed/schema/io", () => {
  it("loads no zod, record schemas or CSV parser to read JSONL without a kind", () => {
    const urls = resolvedWhileReading(undefined);
    expect(urls.some((u) => u.endsWith("/io/read-records.ts"))).toBe(true);
    expect(heavy(urls)).toEqual([]);
  }, 90_000);

  it("loads the record schemas only once the first record is validated", () => {
    const urls = resolvedWhileReading("doc");
    const loaded = urls.indexOf("-- loaded");
    expect(heavy(urls.slice(0, loaded))).toEqual([]);
    expect(urls.slice(loaded).some((u) => u.endsWith("/validate.ts"))).toBe(true);
  }, 90_000);

  it("RECORD_KINDS names exactly the record schemas", () => {
    expect([...RECORD_KINDS].sort()).toEqual(Object.keys(recordSchemas).sort());
    for (const k of Object.keys(recordSchemas)) expect(isRecordKind(k)).toBe(true);
    expect(isRecordKind("toString")).toBe(false);
    expect(isRecordKind(undefined)).toBe(false);
  });

  it("exports the same values as the root for every name it has", () => {
    const r = root as Record<string, unknown>;
    for (const [name, value] of Object.entries(io)) expect(r[name], name).toBe(value);
  });
});
