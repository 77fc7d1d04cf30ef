import { PrivacyProbeError } from "../errors.js";
import type { GateFile } from "./gate-file.js";

/** What the gate decided for one sequence. */
export interface GateDecision {
  hit: boolean;
  /** Row of the most similar entry (−1 when there are no entries). */
  entry: number;
  /** Its cosine similarity with the pooled hidden state. */
  similarity: number;
}

/** Mean over positions of a sequence of hidden states (T rows of width D). */
export function meanPool(hidden: readonly Float32Array[]): Float32Array {
  if (hidden.length === 0) throw new PrivacyProbeError("cannot pool an empty sequence", { field: "hidden" });
  const dim = hidden[0]!.length;
  const sum = new Float64Array(dim);
  for (const h of hidden) {
    if (h.length !== dim) throw new PrivacyProbeError(`hidden states of width ${h.length} and ${dim}`, { code: "DIM_MISMATCH" });
    for (let i = 0; i < dim; i++) sum[i]! += h[i]!;
  }
  return Float32Array.from(sum, (x) => x / hidden.length);
}

/**
 * Step 3 of the gate: the entry most similar (cosine) to a pooled hidden state, and whether it passes the threshold
 * (strictly greater, as serve checks it).
 * @throws {PrivacyProbeError} code `DIM_MISMATCH` when the vector's width is not the gate's `dim`
 */
export function gateDecision(pooled: Float32Array, gate: GateFile): GateDecision {
  if (pooled.length !== gate.dim) throw new PrivacyProbeError(`pooled state has ${pooled.length} dims, gate has ${gate.dim}`, { code: "DIM_MISMATCH" });
  let norm = 0;
  for (let i = 0; i < pooled.length; i++) norm += pooled[i]! * pooled[i]!;
  norm = Math.sqrt(norm);
  let best = -1;
  let bestSim = Number.NEGATIVE_INFINITY;
  gate.entries.forEach((e, r) => {
    let dot = 0;
    let en = 0;
    for (let i = 0; i < e.length; i++) {
      dot += e[i]! * pooled[i]!;
      en += e[i]! * e[i]!;
    }
    // Clamped: float32 rounding can push the cosine of a vector with itself just past 1.
    const sim = norm > 0 && en > 0 ? Math.min(1, Math.max(-1, dot / (norm * Math.sqrt(en)))) : 0;
    if (sim > bestSim) {
      bestSim = sim;
      best = r;
    }
  });
  if (best < 0) return { hit: false, entry: -1, similarity: Number.NaN };
  return { hit: bestSim > gate.threshold, entry: best, similarity: bestSim };
}

/**
 * The whole gate on one sequence, as serve applies it at layer `gate.layer`: mean-pool, decide, and on a hit shift
 * every position by `replacements[i] − mean` so the sequence's mean becomes the replacement while each position
 * keeps its deviation from the mean. Without a hit the states are returned unchanged (same arrays).
 */
export function applyGate(hidden: readonly Float32Array[], gate: GateFile): { hidden: Float32Array[]; decision: GateDecision } {
  const mean = meanPool(hidden);
  const decision = gateDecision(mean, gate);
  if (!decision.hit) return { hidden: [...hidden], decision };
  const repl = gate.replacements[decision.entry]!;
  const shift = Float32Array.from(repl, (r, i) => r - mean[i]!);
  return { hidden: hidden.map((h) => Float32Array.from(h, (x, i) => x + shift[i]!)), decision };
}
