import path from "node:path";
import { readFile, writeFile } from "node:fs/promises";
import type { ChatModel, ChatResult } from "@sfmed/llm";
import type { Message } from "@sfmed/schema";
import { tempDir } from "@sfmed/test-utils";
import { describe, expect, it } from "vitest";
import { votePairs, judgeOrder } from "./vote-pairs.js";

/** Shown responses in the default prompt, by label. */
function shown(messages: Message[]): Map<string, string> {
  const text = messages[messages.length - 1]!.content;
  const out = new Map<string, string>();
  for (const m of text.matchAll(/\[回答 ([A-Z])\]\n([\s\S]*?)\n\[回答 \1 结束\]/g)) out.set(m[1]!, m[2]!);
  return out;
}

interface FakeJudge extends ChatModel {
  calls: number;
  maxInFlight: number;
}

/** A judge that answers `[[X]]` for the response `choose` likes best (by the number after "q="). */
function judge(name: string, opts: { choose?: (texts: Map<string, string>) => string; failAfter?: number; reply?: string; delayMs?: number } = {}): FakeJudge {
  let inFlight = 0;
  const j: FakeJudge = {
    name,
    calls: 0,
    maxInFlight: 0,
    async chat(messages): Promise<ChatResult> {
      j.calls++;
      if (opts.failAfter !== undefined && j.calls > opts.failAfter) throw new Error("server went away");
      inFlight++;
      j.maxInFlight = Math.max(j.maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, opts.delayMs ?? 0));
      inFlight--;
      const texts = shown(messages);
      const best =
        opts.choose?.(texts) ??
        [...texts.entries()].sort((a, b) => Number(/q=(\d+)/.exec(b[1])![1]) - Number(/q=(\d+)/.exec(a[1])![1]))[0]![0];
      return { texts: [opts.reply ?? `理由略。\n[[${best}]]`], finishReasons: ["stop"], usage: { promptTokens: 1, completionTokens: 1 }, cached: false };
    },
  };
  return j;
}

const sets = Array.from({ length: 12 }, (_, i) => ({
  id: `s${i}`,
  prompt: [{ role: "user", content: `问题 ${i}` }],
  responses: [`answer q=${i % 4}`, `answer q=9`, `answer q=${(i % 3) + 4}`, `answer q=0 short`],
}));

describe("votePairs", () => {
  it("chooses the majority pick and rejects the least-voted response", async () => {
    const js = [judge("a"), judge("b"), judge("pos-biased", { choose: () => "A" })];
    const r = await votePairs({ items: sets, judges: js, seed: 3 });
    expect(r.pairs).toHaveLength(12);
    for (const p of r.pairs) expect(p.chosen).toBe("answer q=9");
    const p0 = r.pairs[0]!;
    const vote = p0.meta!.vote as { chosen: number; rejected: number; votes: number[]; verdicts: { order: number[]; pick: number }[] };
    expect(vote.chosen).toBe(1);
    expect(vote.votes.reduce((a, b) => a + b, 0)).toBe(3);
    expect(vote.votes[vote.rejected]).toBe(Math.min(...vote.votes.filter((_, i) => i !== 1)));
    // orders are recorded, differ between judges, and are reproducible from the seed
    expect(vote.verdicts.map((v, j) => judgeOrder({ seed: 3, id: "s0", judge: j, n: 4 }))).toEqual(vote.verdicts.map((v) => v.order));
    const orders = new Set(r.pairs.flatMap((p) => (p.meta!.vote as typeof vote).verdicts.map((v) => v.order.join())));
    expect(orders.size).toBeGreaterThan(3);
    // the biased judge always picks position 0
    const biased = r.agreement.judges[2]!;
    expect(biased.picksByPosition[0]).toBe(12);
    expect(r.agreement.judges[0]!.agreesWithMajority).toBe(1);
    expect(r.agreement.fleissKappa).not.toBeNull();
    expect(r.summary).toMatchObject({ input: 12, valid: 12, pairs: 12, dropped: 0, calls: 36, minVotes: 2 });
  });

  it("drops ties and unreadable verdicts with reasons, and rejects bad rows with their line", async () => {
    const js = [judge("a"), judge("garbage", { reply: "I cannot decide." }), judge("contrarian", { choose: (t) => [...t.entries()].find(([, v]) => v === "answer q=0 short")![0] })];
    const items = [...sets.slice(0, 2), { id: "bad", prompt: [], responses: ["x", "y"] }, { id: "one", prompt: [{ role: "user", content: "q" }], responses: ["x"] }];
    const r = await votePairs({ items, judges: js, file: "c.jsonl", lines: [1, 2, 4, 7] });
    expect(r.pairs).toHaveLength(0);
    expect(r.dropped).toEqual([
      { id: "s0", line: 1, reason: "tie for best between responses 1, 3 (1 votes each)", votes: [0, 1, 0, 1] },
      { id: "s1", line: 2, reason: "tie for best between responses 1, 3 (1 votes each)", votes: [0, 1, 0, 1] },
    ]);
    expect(r.rejected).toEqual([
      { line: 4, file: "c.jsonl", id: "bad", field: "prompt", reason: "prompt needs at least one message" },
      { line: 7, file: "c.jsonl", id: "one", field: "responses", reason: "a vote needs at least two responses" },
    ]);
    expect(r.agreement.judges[1]).toMatchObject({ valid: 0, invalid: 2 });
    expect(r.agreement.fleissKappa).toBeNull();
  });

  it("gives the same result at any concurrency and keeps calls within the limit", async () => {
    const slow = () => [judge("a", { delayMs: 2 }), judge("b", { delayMs: 1 }), judge("c", { choose: () => "B", delayMs: 3 })];
    const js1 = slow();
    const one = await votePairs({ items: sets, judges: js1, seed: 9, concurrency: 1 });
    const js5 = slow();
    const five = await votePairs({ items: sets, judges: js5, seed: 9, concurrency: 5 });
    expect(five).toEqual(one);
    expect(Math.max(...js1.map((j) => j.maxInFlight))).toBe(1);
    expect(js5.reduce((a, j) => a + j.maxInFlight, 0)).toBeGreaterThan(1);
    expect(js5.reduce((a, j) => a + j.maxInFlight, 0)).toBeLessThanOrEqual(5 * 3);
  });

  it("resumes from its checkpoint after a failed judge and ends as an uninterrupted run would", async () => {
    const dir = await tempDir();
    const checkpoint = path.join(dir, "vote.ckpt.jsonl");
    const clean = await votePairs({ items: sets, judges: [judge("a"), judge("b"), judge("c")], seed: 5 });
    await expect(votePairs({ items: sets, judges: [judge("a"), judge("b", { failAfter: 5 }), judge("c")], seed: 5, checkpoint, concurrency: 2 })).rejects.toMatchObject({
      name: "ModelCallError",
      model: "b",
    });
    const saved = (await readFile(checkpoint, "utf8")).trim().split("\n");
    expect(saved.length).toBeGreaterThan(1);
    expect(saved.length).toBeLessThan(13);
    // a torn last line (killed mid-write) is ignored
    await writeFile(checkpoint, (await readFile(checkpoint, "utf8")) + '{"id":"s1', { flag: "w" });
    const js = [judge("a"), judge("b"), judge("c")];
    const progress: number[] = [];
    const resumed = await votePairs({ items: sets, judges: js, seed: 5, checkpoint, onProgress: (p) => progress.push(p.done) });
    expect(resumed.pairs).toEqual(clean.pairs);
    expect(resumed.agreement).toEqual(clean.agreement);
    expect(resumed.summary.resumed).toBe(saved.length - 1);
    expect(js[0]!.calls).toBe(12 - (saved.length - 1));
    expect(progress[progress.length - 1]).toBe(12);
    await expect(votePairs({ items: sets, judges: js, seed: 6, checkpoint })).rejects.toMatchObject({ name: "CheckpointMismatchError" });
  });

  it("resumes a checkpoint whose header has the key order earlier releases wrote", async () => {
    const dir = await tempDir();
    const checkpoint = path.join(dir, "vote.ckpt.jsonl");
    const first = await votePairs({ items: sets, judges: [judge("a"), judge("b"), judge("c")], seed: 5, checkpoint });
    const lines = (await readFile(checkpoint, "utf8")).split("\n");
    lines[0] = JSON.stringify({ kind: "sfmed-pref-vote", version: 1, seed: 5, judges: ["a", "b", "c"] });
    await writeFile(checkpoint, lines.join("\n"));
    const js = [judge("a"), judge("b"), judge("c")];
    const again = await votePairs({ items: sets, judges: js, seed: 5, checkpoint });
    expect(again.summary.resumed).toBe(sets.length);
    expect(js[0]!.calls).toBe(0);
    expect(again.pairs).toEqual(first.pairs);
  });
});
