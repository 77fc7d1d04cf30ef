import { Command } from "commander";
import { describe, expect, it, vi } from "vitest";
import { commands } from "./commands/index.js";
import { makeContext } from "./context.js";
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

  it("lists every registered subcommand in --help", async () => {
    const program = await buildProgram();
    const help = program.helpInformation();
    for (const c of program.commands) expect(help).toContain(c.name());
  });

  it("knows which module owns each top-level command, and loads only that one for it", async () => {
    const all = (await buildProgram()).commands.map((c) => c.name());
    expect([...commands.flatMap((m) => m.names)].sort()).toEqual([...all].sort());
    for (const m of commands) {
      const p = new Command();
      (await m.load()).register(p, () => makeContext(true));
      expect(p.commands.map((c) => c.name())).toEqual([...m.names]);
      expect((await buildProgram(["-q", m.names[0]!, "--help"])).commands.map((c) => c.name())).toEqual([...m.names]);
    }
    expect((await buildProgram(["no-such-command"])).commands.map((c) => c.name())).toEqual(all);
  });

  it("describes typed errors with their name", () => {
    class BadThing extends Error {
      override readonly name = "BadThing";
    }
    expect(describeError(new BadThing("f.jsonl:3: broken"))).toBe("sfmed: BadThing: f.jsonl:3: broken");
    expect(describeError(new Error("plain"))).toBe("sfmed: plain");
  });
});
