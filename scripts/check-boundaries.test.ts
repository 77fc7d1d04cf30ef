import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";

const script = path.join(import.meta.dirname, "check-boundaries.mjs");
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A two-package monorepo: `a` depends on `@sfmed/b` and `zod`; `file` holds a's source. */
function repo(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), "boundaries-"));
  dirs.push(root);
  const write = (rel: string, text: string) => {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), text);
  };
  write("package.json", JSON.stringify({ name: "root", devDependencies: { vitest: "4" } }));
  write("packages/a/package.json", JSON.stringify({ name: "@sfmed/a", dependencies: { "@sfmed/b": "^0.1.0", zod: "^4" }, devDependencies: { "fast-check": "4" } }));
  write("packages/b/package.json", JSON.stringify({ name: "@sfmed/b" }));
  write("packages/b/src/index.ts", "export const b = 1;\n");
  for (const [rel, text] of Object.entries(files)) write(rel, text);
  return root;
}

function check(root: string): { ok: boolean; out: string } {
  try {
    return { ok: true, out: execFileSync(process.execPath, [script, "--root", root], { encoding: "utf8", stdio: "pipe" }) };
  } catch (e) {
    return { ok: false, out: String((e as { stderr?: string }).stderr) };
  }
}

describe("check-boundaries", () => {
  it("passes entry-point imports of declared packages, builtins, and devDependencies in tests", () => {
    const r = check(
      repo({
        "packages/a/src/index.ts": 'import { b } from "@sfmed/b";\nimport { z } from "zod";\nimport path from "node:path";\nimport "./local.js";\n',
        "packages/a/src/index.test.ts": 'import fc from "fast-check";\nimport { it } from "vitest";\n',
        "packages/a/src/index.test-d.ts": 'import { expectTypeOf } from "vitest";\n',
        "packages/a/src/strings.ts": 'export const msg = `resume from "three"`;\nconst code = "import x from \'y\'";\n',
      }),
    );
    expect(r).toMatchObject({ ok: true });
  });

  it.each([
    ["a deep import of a sibling", 'import { b } from "@sfmed/b/src/index.js";\n', /deep import "@sfmed\/b\/src\/index.js"/],
    ["a relative path into a sibling", 'import { b } from "../../b/src/index.js";\n', /relative import "..\/..\/b\/src\/index.js" leaves @sfmed\/a/],
    ["an undeclared package", 'import pad from "left-pad";\n', /imports "left-pad", which is not in @sfmed\/a's dependencies/],
    ["a devDependency in library code", 'import fc from "fast-check";\n', /"fast-check".*only a devDependency/],
    ["an undeclared dynamic import", 'const m = await import("@sfmed/c");\n', /imports "@sfmed\/c"/],
    ["a multi-line import", 'import {\n  x,\n} from "left-pad";\n', /index.ts:1: imports "left-pad"/],
  ])("fails on %s", (_what, source, message) => {
    const r = check(repo({ "packages/a/src/index.ts": source }));
    expect(r.ok).toBe(false);
    expect(r.out).toMatch(message);
  });
});
