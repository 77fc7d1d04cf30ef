import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { onlineMergeStep, prepareTau } from "./online-merge-step.js";
import { seededRng } from "./seeded-rng.js";

const small = fc.double({ min: -1, max: 1, noNaN: true });
const arr = (n: number) => fc.array(small, { minLength: n, maxLength: n });

/** Plain HF AdamW (bias-corrected, eps added to √v, decoupled decay after), written independently. */
function adamw(theta: number[], grads: number[][], lr: number, wd: number): number[] {
  const th = [...theta];
  const m = th.map(() => 0);
  const v = th.map(() => 0);
  grads.forEach((g, s) => {
    const t = s + 1;
    for (let i = 0; i < th.length; i++) {
      m[i] = 0.9 * m[i]! + 0.1 * g[i]!;
      v[i] = 0.999 * v[i]! + 0.001 * g[i]! ** 2;
      const mhat = m[i]! / (1 - 0.9 ** t);
      const vhat = v[i]! / (1 - 0.999 ** t);
      th[i] = th[i]! - lr * mhat / (Math.sqrt(vhat) + 1e-8 / Math.sqrt(1 - 0.999 ** t));
      th[i] = th[i]! - lr * wd * th[i]!;
    }
  });
  return th;
}

function run(method: "ondare" | "onties", theta: number[], grads: number[][], tau: number[], p: number, alpha: number, wd = 0) {
  const th = Float64Array.from(theta);
  const m = new Float64Array(theta.length);
  const v = new Float64Array(theta.length);
  grads.forEach((g, s) =>
    onlineMergeStep({ method, theta: th, grad: g, expAvg: m, expAvgSq: v, tau, step: s + 1, lr: 1e-2, p, alpha, weightDecay: wd, rng: seededRng(3, s) }),
  );
  return th;
}

describe("onlineMergeStep", () => {
  test.prop([arr(5), fc.array(arr(5), { minLength: 1, maxLength: 4 }), arr(5), fc.constantFrom(0, 0.1)])(
    "OnDARE with α = 0 and p = 1 is HF AdamW",
    (theta, grads, tau, wd) => {
      const ours = run("ondare", theta, grads, tau, 1, 0, wd);
      const ref = adamw(theta, grads, 1e-2, wd);
      ours.forEach((x, i) => expect(x).toBeCloseTo(ref[i]!, 12));
    },
  );

  test.prop([arr(5), arr(5)])("OnTIES with τ = 0, α = 0 and p = 1 is one HF AdamW step", (theta, g) => {
    const ours = run("onties", theta, [g], theta.map(() => 0), 1, 0);
    const ref = adamw(theta, [g], 1e-2, 0);
    ours.forEach((x, i) => expect(x).toBeCloseTo(ref[i]!, 12));
  });

  test.prop([arr(6), fc.array(arr(6), { minLength: 1, maxLength: 5 }), arr(6), fc.double({ min: 0, max: 0.5, noNaN: true })])(
    "OnDARE with p = 1 adds (1−α)·Σ Adam steps plus t·α·τ",
    (theta, grads, tau, alpha) => {
      const merged = run("ondare", theta, grads, tau, 1, alpha);
      const plain = run("ondare", theta, grads, tau.map(() => 0), 1, 0);
      const t = grads.length;
      merged.forEach((x, i) => {
        const adamDelta = plain[i]! - theta[i]!;
        expect(x).toBeCloseTo(theta[i]! + (1 - alpha) * adamDelta + t * alpha * tau[i]!, 12);
      });
    },
  );

  test.prop([arr(4), fc.array(arr(4), { minLength: 1, maxLength: 3 }), fc.constantFrom(0, 0.1)])(
    "the torch variant is torch.optim.AdamW (decay first, ε after the bias-corrected √v)",
    (theta, grads, wd) => {
      const th = Float64Array.from(theta);
      const m = new Float64Array(4);
      const v = new Float64Array(4);
      const ref = [...theta];
      const rm = [0, 0, 0, 0];
      const rv = [0, 0, 0, 0];
      grads.forEach((g, s) => {
        onlineMergeStep({ method: "ondare", adamVariant: "torch", theta: th, grad: g, expAvg: m, expAvgSq: v, tau: [0, 0, 0, 0], step: s + 1, lr: 1e-2, p: 1, alpha: 0, weightDecay: wd });
        const t = s + 1;
        for (let i = 0; i < 4; i++) {
          ref[i] = ref[i]! * (1 - 1e-2 * wd);
          rm[i] = 0.9 * rm[i]! + 0.1 * g[i]!;
          rv[i] = 0.999 * rv[i]! + 0.001 * g[i]! ** 2;
          ref[i] = ref[i]! - (1e-2 / (1 - 0.9 ** t)) * (rm[i]! / (Math.sqrt(rv[i]!) / Math.sqrt(1 - 0.999 ** t) + 1e-8));
        }
      });
      th.forEach((x, i) => expect(x).toBeCloseTo(ref[i]!, 12));
    },
  );

  it("the hf and torch variants differ by where ε sits (visible for small gradients)", () => {
    const go = (adamVariant: "hf" | "torch") => {
      const theta = [0];
      onlineMergeStep({ method: "ondare", adamVariant, theta, grad: [1e-6], expAvg: [0], expAvgSq: [0], tau: [0], step: 1, lr: 1e-3, p: 1, alpha: 0 });
      return theta[0]!;
    };
    // hf: −lr·g/(|g| + ε/√(1−β2)) ; torch: −lr·g/(|g| + ε)
    expect(go("hf")).toBeCloseTo(-1e-3 * (1e-6 / (1e-6 + 1e-8 / Math.sqrt(0.001))), 15);
    expect(go("torch")).toBeCloseTo(-1e-3 * (1e-6 / (1e-6 + 1e-8)), 15);
    expect(Math.abs(go("hf") - go("torch"))).toBeGreaterThan(1e-9);
  });

  it("applies the OnDARE mask with ×1/p and the α mix (hand-computed)", () => {
    const theta = [1, 2, 3];
    const m = [0, 0, 0];
    const v = [0, 0, 0];
    const { update } = onlineMergeStep({ method: "ondare", theta, grad: [0.5, -1, 2], expAvg: m, expAvgSq: v, tau: [0.1, 0.2, -0.3], step: 1, lr: 0.1, p: 0.5, alpha: 0.25, mask: [1, 0, 1], eps: 0 });
    // Step 1 with bias correction: Δ = −lr·sign(g) exactly (eps 0); kept ×2, dropped 0.
    [0.05, -0.1, 0.2].forEach((x, i) => expect(m[i]).toBeCloseTo(x, 15));
    [0.00025, 0.001, 0.004].forEach((x, i) => expect(v[i]).toBeCloseTo(x, 15));
    expect(update[0]).toBeCloseTo(0.25 * 0.1 + 0.75 * -0.2, 14);
    expect(update[1]).toBeCloseTo(0.25 * 0.2, 14);
    expect(update[2]).toBeCloseTo(0.25 * -0.3 + 0.75 * -0.2, 14);
    expect(theta[0]).toBeCloseTo(1 + 0.025 - 0.15, 14);
  });

  it("filters OnTIES entries by the unweighted sign of τ + Δ", () => {
    const theta = [0, 0, 0, 0];
    const { update } = onlineMergeStep({
      method: "onties", theta, grad: [1, -1, 1, 1], expAvg: [0, 0, 0, 0], expAvgSq: [0, 0, 0, 0],
      tau: [0.5, 0.5, -0.05, 0], step: 1, lr: 0.1, p: 1, alpha: 0.2, eps: 0,
    });
    // Δ = [−0.1, 0.1, −0.1, −0.1]. col0: τ+Δ = 0.4 → +: keep τ, drop Δ. col1: both +. col2: both −. col3: −0.1 → −: Δ only.
    expect(update[0]).toBeCloseTo(0.2 * 0.5, 14);
    expect(update[1]).toBeCloseTo(0.2 * 0.5 + 0.8 * 0.1, 14);
    expect(update[2]).toBeCloseTo(0.2 * -0.05 + 0.8 * -0.1, 14);
    expect(update[3]).toBeCloseTo(0.8 * -0.1, 14);
    expect(theta).toEqual([...update]);
  });

  it("keeps the top-p fraction of the OnTIES update by magnitude", () => {
    const { update } = onlineMergeStep({
      method: "onties", theta: [0, 0, 0, 0], grad: [1, 4, -2, 3], expAvg: [0, 0, 0, 0], expAvgSq: [0, 0, 0, 0],
      tau: [0, 0, 0, 0], step: 2, lr: 1, p: 0.5, alpha: 0, eps: 0, betas: [0, 0],
    });
    // β = 0: Δ = −g/|g|·... all magnitudes equal 1 → ties keep the lower indices.
    expect([...update].map((x) => (x === 0 ? 0 : Math.sign(x)))).toEqual([-1, -1, 0, 0]);
  });

  it("draws reproducible masks from the seed and validates input", () => {
    const step = (seed: number) => {
      const theta = new Float64Array(64).fill(0);
      onlineMergeStep({ method: "ondare", theta, grad: new Float64Array(64).fill(1), expAvg: new Float64Array(64), expAvgSq: new Float64Array(64), tau: new Float64Array(64), step: 1, lr: 1, p: 0.5, alpha: 0, rng: seededRng(seed, "w") });
      return [...theta];
    };
    expect(step(1)).toEqual(step(1));
    expect(step(1)).not.toEqual(step(2));
    const base = { method: "ondare" as const, theta: [0], grad: [0], expAvg: [0], expAvgSq: [0], tau: [0], step: 1, lr: 1, alpha: 0 };
    expect(() => onlineMergeStep({ ...base, p: 0 })).toThrow(expect.objectContaining({ name: "MergeInputError", code: "BAD_OPTION", field: "p" }));
    expect(() => onlineMergeStep({ ...base, p: 0.5 })).toThrow(expect.objectContaining({ field: "mask" }));
    expect(() => onlineMergeStep({ ...base, p: 1, grad: [0, 1] })).toThrow(expect.objectContaining({ field: "grad" }));
  });
});

describe("prepareTau", () => {
  it("OnDARE drops, scales by 1/p and clamps to ±1", () => {
    const tau = prepareTau({ method: "ondare", sft: [0.3, 0.9, -0.5, 0.2], base: [0, 0, 0, 0], p: 0.5, mask: [1, 1, 1, 0] });
    expect([...tau]).toEqual([0.6, 1, -1, 0]);
  });

  it("OnTIES keeps the top ⌊p·n⌋ magnitudes without a clamp, dense when that is 0", () => {
    expect([...prepareTau({ method: "onties", sft: [3, -1, 0.5, -4], base: [0, 0, 0, 0], p: 0.5 })]).toEqual([3, 0, 0, -4]);
    expect([...prepareTau({ method: "onties", sft: [3, -1], base: [0, 0], p: 0.4 })]).toEqual([3, -1]);
  });
});
