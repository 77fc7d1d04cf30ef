import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { capture } from "../test-helpers/capture.js";

const dialogues = [
  { id: "a", messages: [{ role: "user", content: "头痛怎么办？" }, { role: "assistant", content: "多休息。" }] },
  {
    id: "b",
    messages: [
      { role: "user", content: "咳嗽。" },
      { role: "assistant", content: "多久了？" },
      { role: "user", content: "一周。" },
      { role: "assistant", content: "建议拍胸片。" },
    ],
  },
  { id: "c", messages: [{ role: "system", content: "原有。" }, { role: "user", content: "发烧？" }, { role: "assistant", content: "量体温。" }] },
];

describe("sfmed apply-instructions", () => {
  it("attaches pool instructions by turn count, keeping existing system messages", async () => {
    const dir = await tempDir();
    const input = path.join(dir, "sft.jsonl");
    await writeFile(input, dialogues.map((d) => JSON.stringify(d)).join("\n") + "\n");
    // Pools as `sfmed augment -o pools/` leaves them: one file per pool in a folder.
    const pools = path.join(dir, "pools");
    await mkdir(pools);
    await writeFile(path.join(pools, "single.jsonl"), JSON.stringify({ instruction: "单轮指令一。", pool: "single" }) + "\n");
    await writeFile(path.join(pools, "multi.jsonl"), JSON.stringify({ instruction: "多轮指令一。", pool: "multi" }) + "\n");
    await writeFile(path.join(pools, "multi.jsonl.report.json"), "{}");
    await writeFile(path.join(pools, "multi.jsonl.state.json.accepted.log"), JSON.stringify({ text: "日志，不是输出。" }) + "\n");
    const out = path.join(dir, "out.jsonl");
    const r = await capture(["apply-instructions", "-i", input, "-o", out, "--instructions", pools, "--seed", "3"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("1 single-turn, 1 multi-turn, 1 kept");
    const got = (await readFile(out, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { id: string; messages: Array<{ role: string; content: string }> });
    expect(got.map((d) => d.messages[0]!.content)).toEqual(["单轮指令一。", "多轮指令一。", "原有。"]);

    const single = path.join(dir, "single.txt");
    await writeFile(single, "替换指令。\n");
    const r2 = await capture(["apply-instructions", "-i", input, "-o", out, "--single", single, "--replace"]);
    expect(r2.code).toBe(0);
    const got2 = (await readFile(out, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as { messages: Array<{ content: string }> });
    expect(got2[2]!.messages[0]!.content).toBe("替换指令。");
    expect(got2[2]!.messages).toHaveLength(3);
  });

  it("names the file and line of a bad dialogue", async () => {
    const dir = await tempDir();
    const input = path.join(dir, "bad.jsonl");
    await writeFile(input, JSON.stringify(dialogues[0]) + "\n" + JSON.stringify({ id: "x", messages: [{ role: "assistant", content: "hi" }] }) + "\n");
    const r = await capture(["apply-instructions", "-i", input, "-o", path.join(dir, "o.jsonl")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${input}:2`);
  });
});
