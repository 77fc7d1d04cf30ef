import { describe, expect, it } from "vitest";
import { fc, test } from "@fast-check/vitest";
import type { Dialogue } from "@sfmed/schema";
import { applyInstructions, applyInstructionsStream, attachInstruction, defaultPools, poolFor } from "./instruction-pools.js";

const single = (id: string): Dialogue => ({ id, messages: [{ role: "user", content: "头痛怎么办？" }, { role: "assistant", content: "多休息。" }] });
const multi = (id: string): Dialogue => ({
  id,
  messages: [
    { role: "user", content: "头痛。" },
    { role: "assistant", content: "多久了？" },
    { role: "user", content: "三天。" },
    { role: "assistant", content: "建议就医。" },
  ],
});
const pools = { single: ["S0。", "S1。", "S2。"], multi: ["M0。", "M1。"] };

describe("applyInstructions", () => {
  it("gives each dialogue a system instruction from the pool matching its turn count", () => {
    const [a, b] = applyInstructions([single("a"), multi("b")], pools, { seed: 1 });
    expect(pools.single).toContain(a!.messages[0]!.content);
    expect(pools.multi).toContain(b!.messages[0]!.content);
    expect(a!.messages[0]!.role).toBe("system");
    expect(b!.messages.slice(1)).toEqual(multi("b").messages);
    expect(b!.meta).toMatchObject({ instructionPool: "multi" });
    expect(poolFor(single("x"))).toBe("single");
  });

  it("keeps an existing system message unless told to replace it", () => {
    const d: Dialogue = { id: "s", messages: [{ role: "system", content: "旧。" }, ...single("s").messages] };
    expect(attachInstruction(d, pools)).toBe(d);
    const r = attachInstruction(d, pools, { existing: "replace" });
    expect(r.messages).toHaveLength(3);
    expect(pools.single).toContain(r.messages[0]!.content);
  });

  it("seeds the pools with one example each and refuses an empty pool", () => {
    const p = defaultPools();
    expect(p.single).toHaveLength(1);
    expect(p.multi).toHaveLength(1);
    expect(() => attachInstruction(multi("m"), { single: ["x"], multi: [] })).toThrow(/multi-turn instruction pool is empty/);
  });

  test.prop([fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: 30 }), fc.integer()])(
    "picks depend only on (seed, id): order does not matter",
    (ids, seed) => {
      const ds = ids.map((id, i) => (i % 2 ? multi(id) : single(id)));
      const fwd = applyInstructions(ds, pools, { seed });
      const rev = applyInstructions([...ds].reverse(), pools, { seed }).reverse();
      expect(rev).toEqual(fwd);
    },
  );

  it("streams the same result as the array form", async () => {
    const ds = [single("a"), multi("b"), single("c")];
    async function* source() {
      yield* ds;
    }
    const got: Dialogue[] = [];
    for await (const d of applyInstructionsStream(source(), pools, { seed: 5 })) got.push(d);
    expect(got).toEqual(applyInstructions(ds, pools, { seed: 5 }));
  });

  it("spreads picks over the pool", () => {
    const ds = Array.from({ length: 300 }, (_, i) => single(`d${i}`));
    const counts = new Map<string, number>();
    for (const d of applyInstructions(ds, pools, { seed: 7 })) counts.set(d.messages[0]!.content, (counts.get(d.messages[0]!.content) ?? 0) + 1);
    for (const s of pools.single) expect(counts.get(s)!).toBeGreaterThan(60);
  });
});
