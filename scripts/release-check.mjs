#!/usr/bin/env node
// What a release would do, without publishing: the pending changesets' version plan (`changeset version` run on a
// scratch copy of the manifests, so the checkout is untouched), then `npm publish --dry-run` of every published
// package from this checkout (packs through prepack/postpack, applies publishConfig). Needs the packages built.
// Fails when a package would reach 1.0.0 (changesets bumps dependents of a bumped peer dependency by a major) or
// when an internal dependency range would not accept the sibling's new version.
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
// semver comes with npm and changesets (hoisted in node_modules).
const semver = createRequire(path.join(root, "package.json"))("semver");
const failures = [];
const fail = (m) => {
  failures.push(m);
  console.log(`FAIL ${m}`);
};
const run = (cmd, args, cwd) => {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", env: { ...process.env, npm_config_update_notifier: "false" } });
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
};
const readJson = (f) => JSON.parse(readFileSync(f, "utf8"));

// The version plan on a scratch copy: root manifest, .changeset/, every workspace manifest and changelog.
const scratch = mkdtempSync(path.join(tmpdir(), "sfmed-release-"));
try {
  cpSync(path.join(root, "package.json"), path.join(scratch, "package.json"));
  cpSync(path.join(root, ".changeset"), path.join(scratch, ".changeset"), { recursive: true });
  for (const group of ["packages", "examples"]) {
    for (const dir of readdirSync(path.join(root, group))) {
      for (const f of ["package.json", "CHANGELOG.md"]) {
        const src = path.join(root, group, dir, f);
        if (existsSync(src)) cpSync(src, path.join(scratch, group, dir, f));
      }
    }
  }
  symlinkSync(path.join(root, "node_modules"), path.join(scratch, "node_modules"), "dir");
  const v = run(path.join(root, "node_modules/.bin/changeset"), ["version"], scratch);
  if (!v.ok) fail(`changeset version:\n${v.out}`);
  const published = readdirSync(path.join(scratch, "packages"))
    .map((d) => ({ dir: d, pkg: readJson(path.join(scratch, "packages", d, "package.json")) }))
    .filter(({ pkg }) => !pkg.private);
  const versions = Object.fromEntries(published.map(({ pkg }) => [pkg.name, pkg.version]));
  console.log("version plan:");
  for (const { dir, pkg } of published) {
    const before = readJson(path.join(root, "packages", dir, "package.json")).version;
    console.log(`  ${pkg.name.padEnd(26)} ${before} -> ${pkg.version}`);
    if (Number(pkg.version.split(".")[0]) >= 1 && Number(before.split(".")[0]) < 1) fail(`${pkg.name} would jump to ${pkg.version}`);
    for (const field of ["dependencies", "peerDependencies"]) {
      for (const [dep, range] of Object.entries(pkg[field] ?? {})) {
        const target = versions[dep];
        if (!target) continue;
        if (!semver.satisfies(target, range)) fail(`${pkg.name} ${field}.${dep} "${range}" does not accept ${target}`);
      }
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

// npm publish --dry-run of every published package (what the registry would receive today).
for (const dir of readdirSync(path.join(root, "packages"))) {
  const pkg = readJson(path.join(root, "packages", dir, "package.json"));
  if (pkg.private) continue;
  if (!pkg.publishConfig?.provenance || pkg.publishConfig.access !== "public") fail(`${pkg.name}: publishConfig needs { access: "public", provenance: true }`);
  const r = run("npm", ["publish", "--dry-run", "--ignore-scripts=false", "-w", `packages/${dir}`], root);
  console.log(`npm publish --dry-run ${pkg.name}: ${r.ok ? "ok" : "FAIL"}`);
  if (!r.ok) fail(`npm publish --dry-run ${pkg.name}:\n${r.out}`);
}
console.log(failures.length ? `release check: ${failures.length} failure(s)` : "release check: ok");
if (failures.length) process.exitCode = 1;
