import { describe, expect, it, vi } from "vitest";
import { buildProgram } from "./program.js";
import { describeError, runCli } from "./run.js";

describe("sfmed program", () => {
  it("prints its version from package.json", async () => {
    const out: string[] = [];
    const spy = vi.spyOn(process.stdout, "write").mockImplementation((s) => (out.push(String(s)), true));
    try {
      expect(await runCli(["--version"])).toBe(0);
    } finally {
      spy.mockRestore();
    }
    const { version } = (await import("../package.json", { with: { type: "json" } })).default as { version: string };
    expect(out.join("").trim()).toBe(version);
  });

  it("exits non-zero on an unknown command", async () => {
    const spy = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    try {
      expect(await runCli(["no-such-command"])).not.toBe(0);
    } finally {
      spy.mockRestore();
    }
  });

  it("lists every registered subcommand in --help", () => {
    const help = buildProgram().helpInformation();
    for (const c of buildProgram().commands) expect(help).toContain(c.name());
  });

  it("describes typed errors with their name", () => {
    class BadThing extends Error {
      override readonly name = "BadThing";
    }
    expect(describeError(new BadThing("f.jsonl:3: broken"))).toBe("sfmed: BadThing: f.jsonl:3: broken");
    expect(describeError(new Error("plain"))).toBe("sfmed: plain");
  });
});
