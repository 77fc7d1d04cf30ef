// Cost of the augmentation loop itself (prompting, splitting, filtering, bank upkeep, checkpoints), with a
// deterministic in-process model so that only our code is timed. Run:
//   npx tsx --conditions=@sfmed/source packages/instruct-augment/bench/augment-loop.ts
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { augmentInstructions } from "../src/augment-instructions.js";
import { TEST_SEEDS, fakeChatModel } from "../src/testing/fake-instruction-model.js";

async function main() {
  const dir = await mkdtemp(path.join(tmpdir(), "sfmed-bench-augment-"));
  const rows: string[][] = [];
  for (const [m, n] of [
    [20, 80],
    [50, 450],
  ] as const) {
    for (const ckpt of [false, true]) {
      const t0 = performance.now();
      const r = await augmentInstructions({
        model: fakeChatModel(),
        seeds: TEST_SEEDS,
        steps: 300,
        seed: 1,
        // Ten candidates per step, so the filter has work to time.
        layout: "numbered",
        retainOldest: m,
        retainNewest: n,
        checkpointPath: ckpt ? path.join(dir, `s-${m}-${n}.json`) : undefined,
      });
      const ms = performance.now() - t0;
      rows.push([
        `${m}+${n}`,
        ckpt ? "yes" : "no",
        String(r.report.steps),
        String(r.report.candidates),
        String(r.report.accepted),
        (ms / r.report.steps).toFixed(2),
        ((r.report.candidates / ms) * 1000).toFixed(0),
        r.report.diversity.meanPairwiseRougeL.toFixed(3),
      ]);
    }
  }
  await rm(dir, { recursive: true, force: true });
  const head = ["retain m+n", "checkpoint", "steps", "candidates", "accepted", "ms/step", "candidates/s", "mean pairwise ROUGE-L"];
  console.log(`| ${head.join(" | ")} |\n|${head.map(() => "---").join("|")}|`);
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
}

void main();
