// scripts/check-size.mjs over small package trees: file and function limits, the `size:`/`kernel:` markers and
// the baseline.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";

const script = path.join(import.meta.dirname, "check-size.mjs");
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function repo(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), "size-"));
  dirs.push(root);
  const all = { "packages/a/package.json": '{"name":"@x/a"}', ...files };
  for (const [rel, text] of Object.entries(all)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), text);
  }
  return root;
}

function check(root: string, ...args: string[]): { ok: boolean; out: string } {
  try {
    return { ok: true, out: execFileSync(process.execPath, [script, "--root", root, ...args], { encoding: "utf8", stdio: "pipe" }) };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, out: `${err.stdout ?? ""}${err.stderr ?? ""}` };
  }
}

/** A function spanning exactly `lines` lines (header and closing brace included). */
const fn = (name: string, lines: number, lead = "") => `${lead}export function ${name}(): number {\n${"  void 0;\n".repeat(lines - 3)}  return 1;\n}\n`;
const filler = (lines: number) => "export const x = 1;\n".repeat(lines);

// Each check starts a node process that loads the TypeScript compiler (about a second; more on a busy machine).
describe("check-size", { timeout: 60_000 }, () => {
  it("accepts a 400-line file and an 80-line function, rejects 401 and 81", () => {
    expect(check(repo({ "packages/a/src/ok.ts": fn("f", 80) + filler(400 - 80) })).ok).toBe(true);
    const big = check(repo({ "packages/a/src/big.ts": filler(401) }));
    expect(big.ok).toBe(false);
    expect(big.out).toContain("packages/a/src/big.ts file: 401 lines > 400");
    const long = check(repo({ "packages/a/src/long.ts": fn("tooLong", 81) }));
    expect(long.ok).toBe(false);
    expect(long.out).toContain("function tooLong: 81 lines > 80");
  });

  it("measures methods, constructors, arrows and nested functions, naming them by scope", () => {
    const body = "    void 0;\n".repeat(85);
    const src = [
      "export class Runner {",
      `  constructor() {\n${body}  }`,
      `  fit(): void {\n${body}  }`,
      "}",
      `export const arrow = () => {\n${body}};`,
      `export function outer(): void {\n  function inner(): void {\n${body}  }\n  inner();\n}`,
      `export function cmd(p: { action(f: () => void): void }): void {\n  p.action(() => {\n${body}  });\n}`,
    ].join("\n");
    const r = check(repo({ "packages/a/src/m.ts": src }));
    expect(r.ok).toBe(false);
    for (const name of ["Runner.constructor", "Runner.fit", "arrow", "outer", "outer.inner", "cmd", "cmd.action(cb)"]) {
      expect(r.out).toContain(`function ${name}:`);
    }
  });

  it("skips tests, type tests and private (fixture) packages", () => {
    const r = check(
      repo({
        "packages/a/src/a.test.ts": fn("t", 200),
        "packages/a/src/a.test-d.ts": filler(500),
        "packages/fixtures/package.json": '{"name":"@x/fixtures","private":true}',
        "packages/fixtures/src/index.ts": fn("huge", 300),
      }),
    );
    expect(r.out).toContain("0 source files");
    expect(r.ok).toBe(true);
  });

  it("a `size:` header in the first 5 lines allows a long file; further down it does not", () => {
    const header = "// Tables of the 118 CMExam subjects.\n// size: generated lookup tables, one per subject group\n";
    expect(check(repo({ "packages/a/src/t.ts": header + filler(450) })).ok).toBe(true);
    const late = "//\n//\n//\n//\n//\n// size: too late\n";
    expect(check(repo({ "packages/a/src/t.ts": late + filler(450) })).ok).toBe(false);
    expect(check(repo({ "packages/a/src/t.ts": `// size:\n${filler(450)}` })).ok).toBe(false); // a reason is required
  });

  it("a `kernel:` comment allows a long function, in a line or doc comment, on declarations and arrows", () => {
    const lineComment = fn("lcs", 120, "// kernel: bit-parallel inner loop, split would cost a call per word\n");
    const docComment = fn("mix", 120, "/**\n * Mixes bf16 rows.\n * kernel: one pass over memory, unrolled\n */\n");
    const arrow = `// kernel: hot loop\nexport const scan = (): number => {\n${"  void 0;\n".repeat(100)}  return 1;\n};\n`;
    expect(check(repo({ "packages/a/src/k.ts": lineComment + docComment + arrow })).ok).toBe(true);
    // Prose that happens to contain "kernel:" is no marker.
    const prose = check(repo({ "packages/a/src/k.ts": fn("explain", 90, "/** Runs the LCS kernel: bit-parallel. */\n") }));
    expect(prose.ok).toBe(false);
    // A marker on another function does not carry over.
    const r = check(repo({ "packages/a/src/k.ts": `// kernel: first only\nexport const a = 1;\n${fn("second", 90)}` }));
    expect(r.ok).toBe(false);
    expect(r.out).toContain("function second:");
  });

  it("baselined violations pass and are listed; new ones fail; fixed ones are reported stale", () => {
    const root = repo({ "packages/a/src/long.ts": fn("old", 90), "packages/a/src/gone.ts": "export const y = 1;\n" });
    const written = check(root, "--write-baseline");
    expect(written.ok).toBe(true);
    const baseline = readFileSync(path.join(root, "scripts/size-baseline.txt"), "utf8");
    expect(baseline).toContain("packages/a/src/long.ts function old 90");
    writeFileSync(path.join(root, "scripts/size-baseline.txt"), `${baseline}packages/a/src/gone.ts function fixed 120\n`);

    const known = check(root);
    expect(known.ok).toBe(true);
    expect(known.out).toContain("baselined (1");
    expect(known.out).toContain("stale baseline entries");
    expect(known.out).toContain("packages/a/src/gone.ts function fixed");

    writeFileSync(path.join(root, "packages/a/src/long.ts"), fn("old", 95) + fn("added", 85));
    const fresh = check(root);
    expect(fresh.ok).toBe(false);
    expect(fresh.out).toContain("1 new violation(s)");
    expect(fresh.out).toContain("function added: 85 lines");
    expect(fresh.out).toContain("function old: 95 lines > 80 (grew from 90)");
  });
});
