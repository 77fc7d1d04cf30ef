import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { applyGate, gateDecision, meanPool } from "./apply-gate.js";
import type { GateFile } from "./gate-file.js";

const D = 4;
const vec = fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: D, maxLength: D });
const seq = fc.array(vec, { minLength: 1, maxLength: 6 }).map((rows) => rows.map((r) => Float32Array.from(r)));

describe("gate semantics", () => {
  test.prop([seq, vec])("on a hit the mean becomes the replacement and deviations from the mean are kept", (hidden, repl) => {
    const mean = meanPool(hidden);
    fc.pre(Math.hypot(...mean) > 1e-3);
    // The entry is the sequence's own pooled state, so cosine = 1 > threshold.
    const gate: GateFile = { version: 1, layer: 0, threshold: 0.8, dim: D, entries: [Array.from(mean)], replacements: [repl] };
    const { hidden: out, decision } = applyGate(hidden, gate);
    expect(decision.hit).toBe(true);
    const newMean = meanPool(out);
    repl.forEach((r, i) => expect(newMean[i]).toBeCloseTo(r, 3));
    hidden.forEach((h, t) => h.forEach((x, i) => expect(out[t]![i]! - newMean[i]!).toBeCloseTo(x - mean[i]!, 3)));
  });

  test.prop([seq, vec])("without a hit the states are unchanged", (hidden, other) => {
    const mean = meanPool(hidden);
    const gate: GateFile = { version: 1, layer: 0, threshold: 1, dim: D, entries: [other], replacements: [other] };
    const { hidden: out, decision } = applyGate(hidden, gate);
    expect(decision.hit).toBe(false);
    expect(out).toEqual(hidden);
    expect(mean).toEqual(meanPool(out));
  });

  it("picks the most similar entry and needs similarity strictly above the threshold", () => {
    const gate: GateFile = {
      version: 1,
      layer: 0,
      threshold: 0.6,
      dim: 2,
      entries: [
        [1, 0],
        [0.6, 0.8],
      ],
      replacements: [
        [9, 9],
        [7, 7],
      ],
    };
    expect(gateDecision(Float32Array.from([0.5, 1]), gate)).toMatchObject({ hit: true, entry: 1 });
    const edge = gateDecision(Float32Array.from([0, 1]), gate); // cosine with entry 1 is 0.8
    expect(edge.similarity).toBeCloseTo(0.8, 6);
    expect(gateDecision(Float32Array.from([0, 1]), { ...gate, threshold: 0.8 }).hit).toBe(false);
    expect(gateDecision(Float32Array.from([0, 1]), { ...gate, threshold: 0.79 }).hit).toBe(true);
  });
});
