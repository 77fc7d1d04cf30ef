// scripts/check-deps.mjs over small monorepos laid out like this one, with the repository's own knip.jsonc.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";

const script = path.join(import.meta.dirname, "check-deps.mjs");
const config = path.join(import.meta.dirname, "..", "knip.jsonc");
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

type Pkg = { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };

/** Package `@x/a` with the given manifest fields and files; `@x/b` is a clean sibling. */
function repo(a: Pkg, files: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), "deps-"));
  dirs.push(root);
  const write = (rel: string, text: string) => {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), text);
  };
  write("package.json", JSON.stringify({ name: "root", private: true, type: "module", workspaces: ["packages/*"] }));
  write("packages/a/package.json", JSON.stringify({ name: "@x/a", type: "module", ...a }));
  write("packages/b/package.json", JSON.stringify({ name: "@x/b", type: "module", exports: "./src/index.ts" }));
  write("packages/b/src/index.ts", "export const b = 1;\n");
  for (const [rel, text] of Object.entries(files)) write(rel, text);
  return root;
}

function check(root: string): { ok: boolean; out: string } {
  try {
    const out = execFileSync(process.execPath, [script, "--root", root, "--config", config], { encoding: "utf8", stdio: "pipe" });
    return { ok: true, out };
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string };
    return { ok: false, out: `${err.stdout ?? ""}${err.stderr ?? ""}` };
  }
}

describe("check-deps (knip)", () => {
  it("passes when every declared dependency is imported where it may be", { timeout: 60_000 }, () => {
    const r = check(
      repo(
        { dependencies: { "@x/b": "^0.1.0", zod: "^4" }, devDependencies: { "fast-check": "4" } },
        {
          "packages/a/src/index.ts": 'import { b } from "@x/b";\nimport { z } from "zod";\nexport const a = z.number().parse(b);\n',
          "packages/a/src/index.test.ts": 'import fc from "fast-check";\nimport { a } from "./index.js";\nexport const t = [fc, a];\n',
        },
      ),
    );
    expect(r.out).toContain("every declared dependency is imported");
    expect(r.ok).toBe(true);
  });

  it("fails on a declared dependency nobody imports", { timeout: 60_000 }, () => {
    const r = check(repo({ dependencies: { zod: "^4", "left-pad": "^1" } }, { "packages/a/src/index.ts": 'import { z } from "zod";\nexport const a = z;\n' }));
    expect(r.ok).toBe(false);
    expect(r.out).toMatch(/Unused dependencies[\s\S]*left-pad/);
  });

  it("fails on an import of an undeclared package", { timeout: 60_000 }, () => {
    const r = check(repo({}, { "packages/a/src/index.ts": 'import { z } from "zod";\nexport const a = z;\n' }));
    expect(r.ok).toBe(false);
    expect(r.out).toMatch(/Unlisted dependencies[\s\S]*zod/);
  });

  it("fails on a runtime dependency that only tests import (it belongs in devDependencies)", { timeout: 60_000 }, () => {
    const r = check(
      repo(
        { dependencies: { zod: "^4" } },
        { "packages/a/src/index.ts": "export const a = 1;\n", "packages/a/src/index.test.ts": 'import { z } from "zod";\nexport const t = z;\n' },
      ),
    );
    expect(r.ok).toBe(false);
    expect(r.out).toMatch(/--production failed/);
    expect(r.out).toMatch(/Unused dependencies[\s\S]*zod/);
  });
});
