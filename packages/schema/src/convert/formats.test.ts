import { writeFile, mkdir } from "node:fs/promises";
import path from "node:path";
import { fc, test } from "@fast-check/vitest";
import { samplePath, tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { writeJsonl } from "../io/jsonl.js";
import { writeJsonArray } from "../io/json-array.js";
import type { Dialogue, Message, PreferencePair } from "../records.js";
import { DialogueSchema } from "../records.js";
import { alpaca, toAlpaca } from "./alpaca.js";
import { llamaFactory } from "./llama-factory.js";
import { exportRecords, converters, getConverter } from "./registry.js";
import { sharegpt, toShareGpt } from "./sharegpt.js";
import { all, memorySink } from "./test-helpers.js";

const text = fc.string({ unit: "grapheme", maxLength: 30 });
const pairTurns = fc.array(fc.tuple(text, text), { minLength: 1, maxLength: 4 });
/** Valid dialogues: optional system, alternating user/assistant, ending with the assistant. */
const dialogueArb = fc
  .record({
    id: fc.string({ minLength: 1, maxLength: 10 }),
    source: fc.string({ maxLength: 8 }),
    system: fc.option(fc.string({ minLength: 1, maxLength: 20 }), { nil: undefined }),
    turns: pairTurns,
    meta: fc.option(fc.dictionary(fc.string({ maxLength: 5 }), fc.oneof(fc.string({ maxLength: 5 }), fc.integer())), { nil: undefined }),
  })
  .map(({ id, source, system, turns, meta }): Dialogue => {
    const messages: Message[] = system ? [{ role: "system", content: system }] : [];
    for (const [u, a] of turns) messages.push({ role: "user", content: u }, { role: "assistant", content: a });
    return { id, source, messages, ...(meta ? { meta } : {}) };
  });

describe("alpaca / sharegpt / llama-factory", () => {
  test.prop([fc.array(dialogueArb, { maxLength: 15 }), fc.constantFrom("x.jsonl", "x.json")], { numRuns: 40 })(
    "Dialogue → alpaca → Dialogue and Dialogue → sharegpt → Dialogue are identities",
    async (dialogues, name) => {
      const dir = await tempDir();
      for (const [to, conv] of [[toAlpaca, alpaca], [toShareGpt, sharegpt]] as const) {
        const file = path.join(dir, `${conv.name}-${name}`);
        const rows = dialogues.map((d) => to(d));
        if (name.endsWith(".jsonl")) await writeJsonl(file, rows);
        else await writeJsonArray(file, rows);
        expect(await all(conv.from(file))).toEqual(dialogues);
      }
    },
  );

  test.prop([fc.array(dialogueArb, { minLength: 1, maxLength: 10 })], { numRuns: 30 })(
    "llama-factory applies dataset_info columns and tags for both styles",
    async (dialogues) => {
      const dir = await tempDir();
      // alpaca style with renamed columns
      const a = dialogues.map((d) => {
        const r = toAlpaca(d);
        return { q: r.instruction, ctx: r.input, a: r.output, h: r.history ?? [], sys: r.system };
      });
      // sharegpt style with OpenAI-like tags
      const s = dialogues.map((d) => {
        const r = toShareGpt(d);
        return { msgs: r.conversations.map((t) => ({ role: t.from === "human" ? "user" : "assistant", content: t.value })), sys: r.system };
      });
      await writeJsonArray(path.join(dir, "a.json"), a);
      await mkdir(path.join(dir, "s"));
      await writeJsonl(path.join(dir, "s", "part1.jsonl"), s);
      await writeFile(
        path.join(dir, "dataset_info.json"),
        JSON.stringify({
          mine_a: { file_name: "a.json", columns: { prompt: "q", query: "ctx", response: "a", history: "h", system: "sys" } },
          mine_s: { file_name: "s", formatting: "sharegpt", columns: { messages: "msgs", system: "sys" }, tags: { role_tag: "role", content_tag: "content", user_tag: "user", assistant_tag: "assistant" } },
          remote: { hf_hub_url: "org/ds" },
          rank: { file_name: "a.json", ranking: true },
        }),
      );
      const got = await all(llamaFactory.from(dir));
      const strip = (d: Dialogue) => d.messages;
      expect(got.map(strip)).toEqual([...dialogues.map(strip), ...dialogues.map(strip)]);
      expect(got.map((d) => d.source)).toEqual([...dialogues.map(() => "mine_a"), ...dialogues.map(() => "mine_s")]);
      expect(new Set(got.map((d) => d.id)).size).toBe(got.length);
    },
  );

  it("converts the MedicalGPT ShareGPT and BELLE Alpaca samples", async () => {
    const sft = await all(sharegpt.from(samplePath("medicalgpt/medical_sft_1K_format.jsonl")));
    expect(sft).toHaveLength(100);
    expect(sft.every((d) => DialogueSchema.safeParse(d).success && d.messages[0]!.role === "user")).toBe(true);
    const belle = await all(alpaca.from(samplePath("medicalgpt/Belle_open_source_1k.json")));
    expect(belle).toHaveLength(100);
    expect(belle[0]!.id).toBe("alpaca:Belle_open_source_1k:1");
    // llama-factory reads a plain data file, choosing the style from the rows
    expect(await all(llamaFactory.from(samplePath("medicalgpt/medical_sft_1K_format.jsonl")))).toHaveLength(100);
  });

  it("rejects tool turns and missing fields with the line and field", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "s.jsonl");
    await writeJsonl(file, [
      { conversations: [{ from: "human", value: "q" }, { from: "gpt", value: "a" }] },
      { conversations: [{ from: "human", value: "q" }, { from: "function_call", value: "{}" }] },
    ]);
    await expect(all(sharegpt.from(file))).rejects.toThrow(/s\.jsonl:2 field conversations\[1\]\.from: unsupported role/);
    const sink = memorySink();
    expect(await all(sharegpt.from(file, { onInvalid: "skip", rejects: sink }))).toHaveLength(1);
    expect(sink.entries).toMatchObject([{ line: 2, field: "conversations[1].from", code: "INVALID_RECORD" }]);
    const afile = path.join(dir, "a.jsonl");
    await writeJsonl(afile, [{ instruction: "q" }]);
    await expect(all(alpaca.from(afile))).rejects.toThrow(/a\.jsonl:1 field output: missing field "output"/);
  });

  it("exports preference pairs in LLaMA-Factory ranking styles and refuses kinds an exporter lacks", async () => {
    const pair: PreferencePair = { id: "p1", prompt: [{ role: "system", content: "s" }, { role: "user", content: "q" }], chosen: "good", rejected: "bad" };
    const [a] = await all(exportRecords([pair], { to: "alpaca", kind: "pair" }));
    expect(a).toEqual({ id: "p1", instruction: "q", input: "", chosen: "good", rejected: "bad", system: "s" });
    const [s] = await all(exportRecords([pair], { to: "sharegpt", kind: "pair" }));
    expect(s).toEqual({ id: "p1", system: "s", conversations: [{ from: "human", value: "q" }], chosen: { from: "gpt", value: "good" }, rejected: { from: "gpt", value: "bad" } });
    await expect(all(exportRecords([{}], { to: "alpaca", kind: "choice" }))).rejects.toThrow(/does not take choice/);
    await expect(all(exportRecords([{ id: "x", text: 1 }], { to: "trainer", kind: "doc" }))).rejects.toThrow(/field text/);
    expect(() => toAlpaca({ id: "d", messages: [{ role: "user", content: "q" }, { role: "assistant", content: "a" }, { role: "user", content: "q2" }] })).toThrow(
      /record d: .*ends with an assistant turn/,
    );
  });

  it("reads canonical records by kind name and exports them", async () => {
    const dir = await tempDir();
    const file = path.join(dir, "d.jsonl");
    const d: Dialogue = { id: "x", messages: [{ role: "user", content: "问" }, { role: "assistant", content: "答" }] };
    await writeJsonl(file, [d, { id: "y", messages: [] }]);
    const sink = memorySink();
    const conv = getConverter("dialogue");
    expect(conv.kind).toBe("dialogue");
    expect(await all(exportRecords(conv.from(file, { onInvalid: "skip", rejects: sink }), { to: "alpaca", kind: "dialogue" }))).toEqual([
      { id: "x", instruction: "问", input: "", output: "答" },
    ]);
    expect(sink.entries).toMatchObject([{ line: 2, field: "messages" }]);
    expect(() => getConverter("xml")).toThrow(/unknown format "xml".*record kind: dialogue/);
  });

  it("registers every converter named in the contract", () => {
    expect(Object.keys(converters).sort()).toEqual(
      ["alpaca", "ceval", "cmb-clin", "cmb-exam", "cmexam", "cmmlu", "cmtmedqa", "huatuo26m", "llama-factory", "medicalgpt-reward", "pharmacist-exam", "sharegpt", "toyhom", "webmedqa"].sort(),
    );
    for (const [name, c] of Object.entries(converters)) expect(c.name).toBe(name);
  });
});
