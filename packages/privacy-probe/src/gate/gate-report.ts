import type { GateEvaluation } from "./evaluate-gate.js";

const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
const cell = (s: string | number) => String(s).replace(/\|/g, "\\|").replace(/\n/g, " ");
const row = (xs: (string | number)[]) => `| ${xs.map(cell).join(" | ")} |`;

/** A gate evaluation as Markdown: Table 11's win/tie/loss cells (with QA), then the leak rate and held-out drift. */
export function renderGateMarkdown(ev: GateEvaluation): string {
  const out: string[] = ["# Gate evaluation", ""];
  if (ev.qa) {
    const q = ev.qa;
    out.push(
      `## Table 11: QA judged by ${q.judge} (${q.rubric})`,
      "",
      "Win/tie/loss of the original model (no gate) against the privacy-safe model (gate on), each answer graded on its own; a cell symmetric in win and loss means the gate costs nothing.",
      "",
      row(["QA set", "n", "Original vs. privacy-safe", "unparsable judgments"]),
      "|---|---|---|---|",
      ...q.sets.map((s) => row([s.name, s.n, s.cell, s.winTieLoss.dropped])),
      ...(q.all ? [row(["All", q.all.n, q.all.cell, q.all.winTieLoss.dropped])] : []),
      "",
    );
  }
  const m = ev.memorized;
  out.push(
    `## Leak rate on memorized samples (ROUGE-L > ${ev.threshold})`,
    "",
    row(["", "without gate", "with gate"]),
    "|---|---|---|",
    row(["leaked", `${m.leakedUngated} of ${m.n} (${pct(m.leakRateUngated)})`, `${m.leakedGated} of ${m.n} (${pct(m.leakRateGated)})`]),
    "",
  );
  if (m.stillLeaking.length) out.push(`Still leaking with the gate: ${m.stillLeaking.join(", ")}`, "");
  const h = ev.heldOut;
  out.push(
    "## Held-out prompts",
    "",
    `Changed (ROUGE-L F of gated against ungated output < ${ev.changeThreshold}): ${h.changed} of ${h.n} (${pct(h.changedRate)}); ` +
      `identical: ${h.identical} (${pct(h.identicalRate)}); mean ROUGE-L F: ${h.meanRougeL.toFixed(3)}`,
    "",
  );
  return out.join("\n");
}
