#!/usr/bin/env node
// Dependency declarations: declared = used. Runs knip's dependency checks (config: knip.jsonc) twice:
//   1. over everything (sources, tests, benches, scripts): a dependency or devDependency nobody imports, or an
//      import of a package the importer does not declare, fails;
//   2. with --production (sources only): a runtime dependency that only tests or benches import fails (it
//      belongs in devDependencies).
// Usage: node scripts/check-deps.mjs [--root <monorepo dir>] [--config <knip config>]
import { spawnSync } from "node:child_process";
import path from "node:path";

const here = path.dirname(new URL(import.meta.url).pathname);
const flag = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? path.resolve(process.argv[i + 1] ?? ".") : fallback;
};
const root = flag("--root", path.resolve(here, ".."));
const config = flag("--config", path.join(root, "knip.jsonc"));
// knip exports neither its bin nor its package.json, so take it from this checkout's node_modules.
const knip = path.resolve(here, "..", "node_modules", "knip", "bin", "knip.js");

let failed = false;
for (const pass of [[], ["--production"]]) {
  const args = [knip, "--dependencies", "--no-progress", "--directory", root, "--config", config, ...pass];
  const r = spawnSync(process.execPath, args, { stdio: "inherit" });
  if (r.status !== 0) {
    process.stderr.write(`check-deps: knip --dependencies ${pass.join(" ")} failed (exit ${r.status ?? r.signal})\n`);
    failed = true;
  }
}
if (failed) process.exit(1);
console.log("check-deps: every declared dependency is imported and every import is declared");
