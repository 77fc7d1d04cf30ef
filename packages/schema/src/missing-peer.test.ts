import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { MissingPeerError, loadPeer, loadPeerSync } from "./missing-peer.js";

const missing = "@sfmed/no-such-peer";

describe("optional peers", () => {
  it("turns a missing package into MissingPeerError naming what to install", async () => {
    const err = await loadPeer(missing, "feature X", () => import(missing)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingPeerError);
    expect(err).toMatchObject({ name: "MissingPeerError", code: "ERR_SFMED_MISSING_PEER", peer: missing, feature: "feature X" });
    expect((err as Error).message).toContain(`npm install ${missing}`);
  });

  it("does the same for a synchronous require", () => {
    const req = createRequire(import.meta.url);
    expect(() => loadPeerSync(missing, "feature Y", () => req(missing))).toThrow(MissingPeerError);
  });

  it("rethrows other failures, including a different missing module", async () => {
    const other = Object.assign(new Error("Cannot find module 'left-pad'"), { code: "MODULE_NOT_FOUND" });
    expect(() => loadPeerSync(missing, "f", () => { throw other; })).toThrow(other);
    const boom = new Error("boom");
    await expect(loadPeer(missing, "f", () => Promise.reject(boom))).rejects.toBe(boom);
  });

  it("returns the module when it is installed", async () => {
    const mod = await loadPeer("zod", "f", () => import("zod"));
    expect(typeof mod.z.object).toBe("function");
  });
});
