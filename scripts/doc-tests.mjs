#!/usr/bin/env node
// Extract the fenced TypeScript/JavaScript blocks of every package README and docs/*.md, so that the doc tests
// (scripts/doc-tests.test.ts, vitest project "doc-tests") can run each one. A block is run unless the line(s)
// right before it hold a marker:
//   <!-- doc-test: skip (reason) -->   not run; the reason is required
//   <!-- doc-test: server -->          run against a fake OpenAI-compatible server, OPENAI_BASE_URL set
// Blocks run in a temp directory holding small sample files (sft.jsonl, a.jsonl, b.jsonl.gz, data/内科.txt,
// ckpt/{base,a,b} tiny safetensors checkpoints).
// `node scripts/doc-tests.mjs` lists the blocks and their mode.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const LANGS = new Set(["ts", "typescript", "js", "javascript", "mjs", "tsx"]);
const MARKER = /^<!--\s*doc-test:\s*(skip|server)\s*(?:\((.*)\))?\s*-->$/;

/** Markdown files whose code blocks are tested, repo-relative. */
export function docFiles() {
  const files = [];
  for (const dir of readdirSync(path.join(repoRoot, "packages")).sort()) {
    const readme = path.join("packages", dir, "README.md");
    try {
      readFileSync(path.join(repoRoot, readme));
      files.push(readme);
    } catch {
      // a package without a README
    }
  }
  for (const f of readdirSync(path.join(repoRoot, "docs")).sort()) if (f.endsWith(".md")) files.push(path.join("docs", f));
  return files;
}

/**
 * The code blocks of one markdown file: `{ file, line, lang, mode: "run" | "server" | "skip", reason, code }`
 * (`line` is the 1-based line of the opening fence). Throws on a malformed marker or a skip without a reason.
 */
export function extractBlocks(file) {
  const lines = readFileSync(path.join(repoRoot, file), "utf8").split("\n");
  const blocks = [];
  let marker;
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i].trim();
    if (text.startsWith("<!-- doc-test")) {
      const m = MARKER.exec(text);
      if (!m) throw new Error(`${file}:${i + 1}: malformed doc-test marker ${text}`);
      if (m[1] === "skip" && !m[2]?.trim()) throw new Error(`${file}:${i + 1}: doc-test: skip needs a reason in parentheses`);
      marker = { mode: m[1], reason: m[2]?.trim(), line: i + 1 };
      continue;
    }
    const open = /^(\s*)(`{3,}|~{3,})\s*([\w-]*)/.exec(lines[i]);
    if (!open) {
      if (text !== "" && marker) throw new Error(`${file}:${marker.line}: doc-test marker is not followed by a code block`);
      continue;
    }
    const fence = open[2];
    const lang = open[3].toLowerCase();
    const start = i;
    const body = [];
    for (i++; i < lines.length && !lines[i].trim().startsWith(fence); i++) body.push(lines[i].slice(open[1].length));
    if (LANGS.has(lang)) blocks.push({ file, line: start + 1, lang, mode: marker?.mode ?? "run", reason: marker?.reason, code: `${body.join("\n")}\n` });
    else if (marker) throw new Error(`${file}:${marker.line}: doc-test marker before a ${lang || "plain"} block`);
    marker = undefined;
  }
  return blocks;
}

/** Relative links in a package README break on the registry page (only the tarball's files travel). */
export function relativeLinks(file) {
  const out = [];
  const lines = readFileSync(path.join(repoRoot, file), "utf8").split("\n");
  lines.forEach((l, i) => {
    for (const m of l.matchAll(/\]\(([^)\s]+)\)|^\[[^\]]+\]:\s*(\S+)/g)) {
      const target = m[1] ?? m[2];
      if (!/^(https?:|mailto:|#)/.test(target)) out.push(`${file}:${i + 1}: ${target}`);
    }
  });
  return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const f of docFiles()) for (const b of extractBlocks(f)) console.log(`${b.file}:${b.line}\t${b.mode}${b.reason ? `\t${b.reason}` : ""}`);
}
