#!/usr/bin/env node
// Package boundaries: a package reaches another only through its published entry points, and only if it
// declares it. Fails (exit 1) on
//   - deep imports of a sibling (`@sfmed/x/src/...`, `@sfmed/x/dist/...`) or relative paths that leave the package,
//   - imports of a package missing from the importer's package.json (dependencies, peerDependencies,
//     optionalDependencies; test, bench and test-helper files may also use devDependencies and the root's).
// Usage: node scripts/check-boundaries.mjs [--root <monorepo dir>]
import { readdirSync, readFileSync, existsSync } from "node:fs";
import { builtinModules } from "node:module";
import path from "node:path";

const rootFlag = process.argv.indexOf("--root");
const root = rootFlag > 0 ? path.resolve(process.argv[rootFlag + 1] ?? ".") : path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const builtins = new Set(builtinModules);
const rootPkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
const keys = (o) => Object.keys(o ?? {});

// Static imports/exports (statements at the start of a line), dynamic import(), require() and
// loadPeer()/loadPeerSync() (optional peers).
const SPEC =
  /(?:^[ \t]*(?:import|export)\b[^;"'`]*?\bfrom\s*|^[ \t]*import\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|\bloadPeer(?:Sync)?\s*\(\s*)(["'])([^"'\n]+)\1/gm;
const SOURCE = /\.(?:[cm]?ts|tsx|[cm]?js)$/;
const TESTISH = /(?:\.test\.|\.test-d\.|\.test-helpers\.|\/test\/|\/bench\/|\/test-helpers\/|\/testing\/|\/__tests__\/)/;

function walk(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.name === "node_modules" || e.name === "dist" || e.name.startsWith(".")) return [];
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : SOURCE.test(e.name) && !e.name.endsWith(".d.ts") ? [p] : [];
  });
}

const packageName = (spec) => (spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]);

const problems = [];
let files = 0;
for (const group of ["packages", "examples"]) {
  const groupDir = path.join(root, group);
  if (!existsSync(groupDir)) continue;
  for (const name of readdirSync(groupDir)) {
    const dir = path.join(groupDir, name);
    const pjPath = path.join(dir, "package.json");
    if (!existsSync(pjPath)) continue;
    const pj = JSON.parse(readFileSync(pjPath, "utf8"));
    const runtime = new Set([...keys(pj.dependencies), ...keys(pj.peerDependencies), ...keys(pj.optionalDependencies), pj.name]);
    const dev = new Set([...runtime, ...keys(pj.devDependencies), ...keys(rootPkg.devDependencies)]);
    for (const file of ["src", "test", "bench"].flatMap((d) => walk(path.join(dir, d)))) {
      files++;
      const rel = path.relative(root, file);
      // Private packages (test fixtures) are never published, so their devDependencies are enough.
      const allowed = pj.private || TESTISH.test(`/${path.relative(dir, file)}`) ? dev : runtime;
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(SPEC)) {
        const spec = m[2];
        const line = text.slice(0, m.index).split("\n").length;
        const at = `${rel}:${line}`;
        if (spec.startsWith(".")) {
          const target = path.resolve(path.dirname(file), spec);
          if (path.relative(dir, target).startsWith("..")) problems.push(`${at}: relative import "${spec}" leaves ${pj.name}; import the package by name`);
          continue;
        }
        if (spec.startsWith("node:") || builtins.has(spec) || builtins.has(spec.split("/")[0])) continue;
        if (!/^(?:@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*(?:\/[\w.@-]+)*$/i.test(spec)) continue; // not a module name (e.g. a template)
        const pkg = packageName(spec);
        if (pkg.startsWith("@sfmed/") && pkg !== pj.name && /^@sfmed\/[^/]+\/(?:src|dist)(?:\/|$)/.test(spec)) {
          problems.push(`${at}: deep import "${spec}"; use the package's entry point "${pkg}"`);
        }
        if (!allowed.has(pkg)) {
          const where = allowed === dev ? "dependencies or devDependencies" : dev.has(pkg) ? "dependencies (it is only a devDependency)" : "dependencies";
          problems.push(`${at}: imports "${pkg}", which is not in ${pj.name}'s ${where}`);
        }
      }
    }
  }
}

if (problems.length) {
  process.stderr.write(`check-boundaries: ${problems.length} problem(s)\n${problems.map((p) => `  ${p}`).join("\n")}\n`);
  process.exit(1);
}
process.stdout.write(`check-boundaries: ${files} files, no deep or undeclared cross-package imports\n`);
