// Runs every README/docs code block (see doc-tests.mjs for the markers) as its own program:
// `node --conditions=@sfmed/source --import tsx`, in a fresh directory with small sample files.
import { spawn } from "node:child_process";
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fakeOpenAI, samplePath } from "@sfmed/test-utils";
import { converters, writeJsonl, type Dialogue } from "@sfmed/schema";
import { CheckpointWriter } from "@sfmed/dpo-merge";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { docFiles, extractBlocks, relativeLinks, repoRoot } from "./doc-tests.mjs";

const tsx = path.join(repoRoot, "node_modules/tsx/dist/loader.mjs");
const blocksDir = path.join(repoRoot, ".doc-tests");
let fixtures = "";

beforeAll(async () => {
  // Sample inputs the blocks name: Huatuo-26M test dialogues as sft.jsonl (sources huatuo/toyhom, a repeated
  // record so dedup has something to remove), the same split as a.jsonl + b.jsonl.gz, Toyhom's GB18030 text,
  // tiny safetensors checkpoints.
  fixtures = mkdtempSync(path.join(tmpdir(), "sfmed-doc-fixtures-"));
  const dialogues: Dialogue[] = [];
  for await (const d of converters.huatuo26m.from(samplePath("huatuo26m_test/huatuo26M_test.json"))) {
    dialogues.push({ ...d, id: `huatuo-${dialogues.length}`, source: dialogues.length % 2 ? "toyhom" : "huatuo" });
    if (dialogues.length === 40) break;
  }
  dialogues.push({ ...dialogues[0]!, id: `${String(dialogues[0]!.id)}-copy`, source: "toyhom" });
  await writeJsonl(path.join(fixtures, "sft.jsonl"), dialogues);
  await writeJsonl(path.join(fixtures, "a.jsonl"), dialogues.slice(0, 20));
  await writeJsonl(path.join(fixtures, "b.jsonl.gz"), dialogues.slice(20));
  mkdirSync(path.join(fixtures, "data"));
  copyFileSync(samplePath("toyhom/内科.txt"), path.join(fixtures, "data/内科.txt"));
  // Three tiny checkpoints (one 4×4 tensor each) for the merge examples: ckpt/base, ckpt/a, ckpt/b.
  for (const [i, name] of ["base", "a", "b"].entries()) {
    const dir = path.join(fixtures, "ckpt", name);
    mkdirSync(dir, { recursive: true });
    const tensor = "model.layers.0.mlp.up_proj.weight";
    const w = await CheckpointWriter.create({ dir, tensors: [{ name: tensor, dtype: "F32", shape: [4, 4] }] });
    await w.write(tensor, Float32Array.from({ length: 16 }, (_, k) => Math.sin(k + i)));
    await w.close();
    writeFileSync(path.join(dir, "config.json"), JSON.stringify({ model_type: "qwen2" }));
  }
  mkdirSync(blocksDir, { recursive: true });
});
afterAll(() => {
  if (fixtures) rmSync(fixtures, { recursive: true, force: true });
});

function runBlock(file: string, cwd: string, env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--conditions=@sfmed/source", "--import", tsx, file], { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr.on("data", (c: Buffer) => (output += c.toString()));
    child.on("close", (code) => resolve({ code, output }));
  });
}

const files = docFiles();

describe("package READMEs link only to absolute URLs (relative links break on the registry page)", () => {
  it.each(files.filter((f) => f.startsWith("packages/")))("%s", (file) => {
    expect(relativeLinks(file)).toEqual([]);
  });
});

for (const file of files) {
  const blocks = extractBlocks(file);
  if (blocks.length === 0) continue;
  describe(file, () => {
    for (const b of blocks) {
      const name = `block at line ${b.line}${b.mode === "server" ? " (fake model server)" : ""}`;
      if (b.mode === "skip") {
        it.skip(`${name}: ${b.reason}`, () => {});
        continue;
      }
      it(name, async () => {
        const cwd = mkdtempSync(path.join(tmpdir(), "sfmed-doc-"));
        try {
          for (const f of ["sft.jsonl", "a.jsonl", "b.jsonl.gz"]) copyFileSync(path.join(fixtures, f), path.join(cwd, f));
          for (const dir of ["data", "ckpt"]) cpSync(path.join(fixtures, dir), path.join(cwd, dir), { recursive: true });
          const script = path.join(blocksDir, `${file.replace(/[^\w]+/g, "_")}_${b.line}.mts`);
          writeFileSync(script, `// ${file}:${b.line}\n${b.code}\nexport {};\n`);
          const env: Record<string, string> = { OPENAI_API_KEY: "sk-doc-test" };
          const server = b.mode === "server" ? await fakeOpenAI() : undefined;
          if (server) env.OPENAI_BASE_URL = server.baseURL;
          const { code, output } = await runBlock(script, cwd, env);
          expect(existsSync(script)).toBe(true);
          expect(code, `${file}:${b.line} exited ${code}:\n${output}`).toBe(0);
        } finally {
          rmSync(cwd, { recursive: true, force: true });
        }
      });
    }
  });
}
