#!/usr/bin/env node
// `prepack`/`postpack` of every published package (run in the package directory by npm).
// strip: back up package.json, then drop the dev-only "@sfmed/source" export condition, which points at src/
//        files that are not in the tarball (npm has no publishConfig.exports).
// restore: put the backed-up package.json back, so workspace resolution from source keeps working.
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";

const BACKUP = "package.json.prepack";
const CONDITION = "@sfmed/source";

function strip(node) {
  if (node === null || typeof node !== "object" || Array.isArray(node)) return node;
  return Object.fromEntries(Object.entries(node).filter(([k]) => k !== CONDITION).map(([k, v]) => [k, strip(v)]));
}

const mode = process.argv[2];
if (mode === "strip") {
  const text = readFileSync("package.json", "utf8");
  // A backup left by an interrupted pack is the original; keep it.
  if (!existsSync(BACKUP)) writeFileSync(BACKUP, text);
  const pkg = JSON.parse(text);
  if (pkg.exports) pkg.exports = strip(pkg.exports);
  writeFileSync("package.json", `${JSON.stringify(pkg, null, 2)}\n`);
} else if (mode === "restore") {
  if (existsSync(BACKUP)) renameSync(BACKUP, "package.json");
} else {
  process.stderr.write("usage: pack-manifest.mjs strip|restore\n");
  process.exitCode = 2;
}
