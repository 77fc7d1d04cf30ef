import { Command } from "commander";
import { describe, expect, it, vi } from "vitest";
import { commands } from "./commands/index.js";
import { makeContext } from "./context.js";
import { buildProgram } from "./program.js";
import { describeError, exitCodeFor, runCli } from "./run.js";

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

  it("maps every error to one exit code: usage and library option errors 2, signals 130/143, the rest 1", async () => {
    const { UsageError } = await import("./context.js");
    const { InterruptedError } = await import("./signals.js");
    const { LaunchPlanError } = await import("@sfmed/train-runner");
    const { OptionError } = await import("@sfmed/pref-select");
    const { DedupError } = await import("@sfmed/dedup");
    const { AugmentError } = await import("@sfmed/instruct-augment");
    expect(exitCodeFor(new UsageError("x"))).toBe(2);
    expect(exitCodeFor(new LaunchPlanError("needs several processes", "distributed"))).toBe(2);
    expect(exitCodeFor(new OptionError("flip + drop must be at most 1", "flip"))).toBe(2);
    expect(exitCodeFor(new DedupError("bad", { code: "BAD_OPTION", field: "bands" }))).toBe(2);
    expect(exitCodeFor(new AugmentError("bad", { code: "BAD_OPTIONS", field: "layout" }))).toBe(2);
    // The same classes with a code that is not about an option stay failures of the run.
    expect(exitCodeFor(new DedupError("no text", { code: "NO_TEXT" }))).toBe(1);
    expect(exitCodeFor(new AugmentError("mismatch", { code: "CHECKPOINT_MISMATCH" }))).toBe(1);
    expect(exitCodeFor(Object.assign(new Error("gone"), { code: "ENOENT", file: "a.jsonl" }))).toBe(2);
    expect(exitCodeFor(new InterruptedError("SIGTERM", "stopped"))).toBe(143);
    expect(exitCodeFor(new Error("boom"))).toBe(1);
    expect(exitCodeFor("not an error")).toBe(1);
  });
});
