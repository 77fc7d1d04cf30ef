#!/usr/bin/env node
// Size limits for package sources (packages/*/src of published packages, tests excluded; trainer-py has its own pytest check):
//   - a file over 400 lines needs a header comment `size: <reason>` in its first 5 lines;
//   - a function, method, accessor, constructor or arrow function over 80 lines (first to last line, nested
//     functions included) needs a comment `kernel: <reason>` just above it (hot kernels stay in one piece).
// Violations listed in the baseline (scripts/size-baseline.txt) are printed but pass; any other fails (exit 1).
// Baseline entries that no longer violate are printed as stale so the list only shrinks.
// Usage: node scripts/check-size.mjs [--root <monorepo dir>] [--baseline <file>] [--write-baseline]
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import ts from "typescript";

export const MAX_FILE_LINES = 400;
export const MAX_FUNCTION_LINES = 80;
const FILE_MARKER = /(?:\/\/|\/\*|^\s*\*)\s*size:\s*\S/;
// The marker opens a comment line (`// kernel: why`, ` * kernel: why`), so prose like "the LCS kernel: ..." is no marker.
const KERNEL_MARKER = /^\s*(?:\/\/+|\/\*+|\*+)?\s*kernel:\s*\S/m;
const SOURCE = /\.(?:[cm]?ts|tsx|[cm]?js)$/;
const NOT_SOURCE = /(?:\.test\.|\.test-d\.|\.d\.ts$|\.test-helpers\.)/;

const flag = (name) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const here = path.dirname(new URL(import.meta.url).pathname);
const root = path.resolve(flag("--root") ?? path.join(here, ".."));
const baselinePath = path.resolve(flag("--baseline") ?? path.join(root, "scripts", "size-baseline.txt"));

function walk(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.name === "node_modules" || e.name === "dist" || e.name.startsWith(".") || e.name === "__tests__") return [];
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return walk(p);
    return SOURCE.test(e.name) && !NOT_SOURCE.test(e.name) ? [p] : [];
  });
}

const lineCount = (text) => text.split("\n").length - (text.endsWith("\n") ? 1 : 0);

/** The name a function is known by: `Class.method`, `outer.inner`, `(anonymous)`. */
function ownName(node) {
  if (node.name && (ts.isIdentifier(node.name) || ts.isStringLiteral(node.name) || ts.isPrivateIdentifier(node.name))) return node.name.text;
  if (ts.isConstructorDeclaration(node)) return "constructor";
  const p = node.parent;
  if (p && (ts.isVariableDeclaration(p) || ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p)) && p.name && ts.isIdentifier(p.name)) return p.name.text;
  if (p && ts.isExportAssignment(p)) return "default";
  // A callback is named by what it is passed to: `.action(async () => ...)` is `action(cb)`.
  if (p && ts.isCallExpression(p) && p.expression !== node) {
    const callee = p.expression;
    const id = ts.isPropertyAccessExpression(callee) ? callee.name.text : ts.isIdentifier(callee) ? callee.text : undefined;
    if (id) return `${id}(cb)`;
  }
  return "(anonymous)";
}

const isFunction = (n) =>
  ts.isFunctionDeclaration(n) ||
  ts.isFunctionExpression(n) ||
  ts.isArrowFunction(n) ||
  ts.isMethodDeclaration(n) ||
  ts.isConstructorDeclaration(n) ||
  ts.isGetAccessorDeclaration(n) ||
  ts.isSetAccessorDeclaration(n);

/** True when a `kernel:` comment leads the function or the statement that starts on its first line. */
function hasKernelMarker(node, sf, text) {
  const firstLine = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
  for (let n = node; n && !ts.isSourceFile(n); n = n.parent) {
    if (sf.getLineAndCharacterOfPosition(n.getStart(sf)).line !== firstLine) break;
    for (const c of ts.getLeadingCommentRanges(text, n.getFullStart()) ?? []) {
      if (KERNEL_MARKER.test(text.slice(c.pos, c.end))) return true;
    }
  }
  return false;
}

/** Violations of one file: `{ key, file, kind, name, lines }`, key = "file kind name" (stable across edits). */
export function checkFile(file, rel) {
  const text = readFileSync(file, "utf8");
  const out = [];
  const lines = lineCount(text);
  if (lines > MAX_FILE_LINES && !text.split("\n").slice(0, 5).some((l) => FILE_MARKER.test(l))) {
    out.push({ file: rel, kind: "file", name: "-", lines });
  }
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const seen = new Map();
  const visit = (node, scope) => {
    let inner = scope;
    if (isFunction(node) && node.body) {
      const name = [...scope, ownName(node)].join(".");
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      const n = end - start + 1;
      if (n > MAX_FUNCTION_LINES && !hasKernelMarker(node, sf, text)) {
        const k = (seen.get(name) ?? 0) + 1;
        seen.set(name, k);
        out.push({ file: rel, kind: "function", name: k > 1 ? `${name}#${k}` : name, lines: n });
      }
      inner = [...scope, ownName(node)];
    } else if (ts.isClassLike(node)) {
      inner = [...scope, node.name?.text ?? "(class)"];
    }
    ts.forEachChild(node, (c) => visit(c, inner));
  };
  visit(sf, []);
  return out.map((v) => ({ ...v, key: `${v.file} ${v.kind} ${v.name}` }));
}

export function readBaseline(file) {
  if (!existsSync(file)) return new Map();
  const entries = new Map();
  for (const raw of readFileSync(file, "utf8").split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    if (!line) continue;
    const [f, kind, name, lines] = line.split(/\s+/);
    entries.set(`${f} ${kind} ${name}`, Number(lines));
  }
  return entries;
}

function formatBaseline(violations) {
  const head = [
    "# Size violations accepted for now (scripts/check-size.mjs). One per line: file, kind, name, lines when recorded.",
    "# This list only shrinks: split the file or function (or state why in a `size:` / `kernel:` comment) and delete",
    "# its line. A violation not listed here fails `npm run lint`. Regenerate: node scripts/check-size.mjs --write-baseline",
  ];
  return `${[...head, ...violations.map((v) => `${v.file} ${v.kind} ${v.name} ${v.lines}`)].join("\n")}\n`;
}

function main() {
  const files = [];
  const pkgs = path.join(root, "packages");
  for (const name of existsSync(pkgs) ? readdirSync(pkgs).sort() : []) {
    const manifest = path.join(pkgs, name, "package.json");
    // Private packages are test fixtures (test-utils), never published: they count as tests.
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, "utf8")).private) continue;
    files.push(...walk(path.join(pkgs, name, "src")));
  }
  const violations = files.sort().flatMap((f) => checkFile(f, path.relative(root, f).split(path.sep).join("/")));
  if (process.argv.includes("--write-baseline")) {
    mkdirSync(path.dirname(baselinePath), { recursive: true });
    writeFileSync(baselinePath, formatBaseline(violations));
    console.log(`check-size: wrote ${violations.length} entries to ${path.relative(root, baselinePath)}`);
    return;
  }
  const baseline = readBaseline(baselinePath);
  const known = violations.filter((v) => baseline.has(v.key));
  const fresh = violations.filter((v) => !baseline.has(v.key));
  const current = new Set(violations.map((v) => v.key));
  const stale = [...baseline.keys()].filter((k) => !current.has(k));
  const show = (v) => {
    const what = v.kind === "file" ? `file: ${v.lines} lines > ${MAX_FILE_LINES}, no size: header` : `function ${v.name}: ${v.lines} lines > ${MAX_FUNCTION_LINES}`;
    const was = baseline.get(v.key);
    return `  ${v.file} ${what}${was !== undefined && v.lines > was ? ` (grew from ${was})` : ""}`;
  };
  console.log(`check-size: ${files.length} source files; limits ${MAX_FILE_LINES} lines per file, ${MAX_FUNCTION_LINES} per function`);
  if (known.length) console.log(`baselined (${known.length}, shrink ${path.relative(root, baselinePath)}):\n${known.map(show).join("\n")}`);
  if (stale.length) console.log(`stale baseline entries (fixed; delete these lines):\n${stale.map((k) => `  ${k}`).join("\n")}`);
  if (fresh.length) {
    process.stderr.write(`check-size: ${fresh.length} new violation(s) not in the baseline:\n${fresh.map(show).join("\n")}\n`);
    process.stderr.write("split it, or state why in a `size: <reason>` header (files) / `kernel: <reason>` comment (functions)\n");
    process.exit(1);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) main();
