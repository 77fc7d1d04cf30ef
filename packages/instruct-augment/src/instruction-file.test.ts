import { writeFile } from "node:fs/promises";
import path from "node:path";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { readInstructionFile } from "./instruction-file.js";

describe("readInstructionFile", () => {
  it("reads text files one instruction per line, skipping blanks and comments", async () => {
    const file = path.join(await tempDir(), "seeds.txt");
    await writeFile(file, "# 种子\n你是一名全科医生。\n\n  请用通俗语言解释检查结果。  \n");
    expect(await readInstructionFile(file)).toEqual([{ text: "你是一名全科医生。" }, { text: "请用通俗语言解释检查结果。" }]);
  });

  it("reads records with instruction or text, keeping their pool", async () => {
    const file = path.join(await tempDir(), "pool.jsonl");
    await writeFile(file, '{"instruction":"你是药师。","pool":"multi"}\n{"text":"你是护士。"}\n"你是营养师。"\n');
    expect(await readInstructionFile(file)).toEqual([{ text: "你是药师。", pool: "multi" }, { text: "你是护士。" }, { text: "你是营养师。" }]);
  });

  it("names file and line of a record without an instruction", async () => {
    const file = path.join(await tempDir(), "bad.jsonl");
    await writeFile(file, '{"instruction":"好"}\n{"id":"x"}\n');
    await expect(readInstructionFile(file)).rejects.toMatchObject({ name: "AugmentError", code: "BAD_INSTRUCTIONS", file, message: expect.stringContaining(`${file}: line 2`) });
  });
});
