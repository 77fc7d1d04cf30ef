import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loopbackServer, sendJson } from "./loopback-server.js";
import { readSample, samplePath } from "./samples.js";
import { tempDir } from "./temp-dir.js";

describe("test-utils", () => {
  it("finds committed samples and rejects missing ones", () => {
    expect(readSample("medicalgpt/test.json").split("\n").filter(Boolean).length).toBe(100);
    expect(() => samplePath("nope/missing.json")).toThrow(/sample file missing/);
  });
  let kept = "";
  it("creates a temp dir", async () => {
    kept = await tempDir();
    expect(existsSync(kept)).toBe(true);
  });
  it("removed the previous test's temp dir", () => {
    expect(kept).not.toBe("");
    expect(existsSync(kept)).toBe(false);
  });
  it("serves loopback requests and records them", async () => {
    const srv = await loopbackServer((req, res) => sendJson(res, 200, { echo: req.body }));
    const r = await fetch(`${srv.url}/x`, { method: "POST", body: "hi" });
    expect(await r.json()).toEqual({ echo: "hi" });
    expect(srv.requests).toHaveLength(1);
    expect(srv.requests[0]!.url).toBe("/x");
    expect(path.isAbsolute(samplePath("thuocl/THUOCL_medical.txt"))).toBe(true);
    expect((await readFile(samplePath("thuocl/THUOCL_medical.txt"), "utf8")).length).toBeGreaterThan(1000);
  });
});
