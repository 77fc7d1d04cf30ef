import path from "node:path";
import type { Register } from "./index.js";
import { loadPipeline } from "../pipeline/spec.js";
import { runPipeline, type StageEvent } from "../pipeline/run-pipeline.js";
import { startPipelineService } from "../pipeline/services.js";
import { renderPipelineReport } from "../pipeline/html-report.js";
import { rename, writeFile } from "node:fs/promises";
import { runCli } from "../run.js";

const list = (v: string, prev: string[] = []) => [...prev, ...v.split(",").map((s) => s.trim()).filter(Boolean)];

export const register: Register = (program, ctx) => {
  const pipeline = program.command("pipeline").description("run a multi-stage pipeline from a YAML file (stages cached by content hash)");

  pipeline
    .command("run")
    .description("run every stage that is not already finished with the same inputs and parameters")
    .argument("<file>", "pipeline YAML")
    .option("--force <stages>", "re-run these stages (comma-separated) even if cached", list)
    .option("--until <stage>", "stop after this stage")
    .option("--dry-run", "show what would run, run nothing")
    .action(async (file: string, o: { force?: string[]; until?: string; dryRun?: boolean }) => {
      const c = ctx();
      const spec = await loadPipeline(file);
      c.info(`pipeline ${spec.name}: ${spec.stages.length} stages → ${path.relative(process.cwd(), spec.out) || "."}`);
      const started = new Map<string, number>();
      const onStage = (e: StageEvent) => {
        if (e.status === "running") {
          started.set(e.stage, Date.now());
          c.info(`▶ ${e.stage}: sfmed ${e.argv?.join(" ") ?? ""}`);
        } else if (e.status === "cached") c.info(`✓ ${e.stage} (cached)`);
        else if (e.status === "done") c.info(`✓ ${e.stage} (${((e.ms ?? 0) / 1000).toFixed(1)} s)`);
        else if (e.status === "failed") c.info(`✗ ${e.stage}: ${e.error ?? "failed"}`);
        else if (e.status === "skipped" && e.argv) c.info(`· ${e.stage} would run: sfmed ${e.argv.join(" ")}`);
      };
      const result = await runPipeline(spec, {
        runCommand: (argv) => runCli(c.quiet ? ["--quiet", ...argv] : argv),
        startService: (argv) => startPipelineService(argv, (l) => c.info(`  ${l}`)),
        ...(o.force ? { force: o.force } : {}),
        ...(o.until ? { until: o.until } : {}),
        ...(o.dryRun ? { dryRun: true } : {}),
        onStage,
      });
      const html = path.join(result.out, "report.html");
      await writeFile(`${html}.tmp`, await renderPipelineReport(result));
      await rename(`${html}.tmp`, html);
      const counts = result.stages.reduce<Record<string, number>>((a, s) => ((a[s.status] = (a[s.status] ?? 0) + 1), a), {});
      c.info(`pipeline ${spec.name} finished in ${(result.ms / 1000).toFixed(1)} s: ${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(", ")}; report ${path.relative(process.cwd(), html)}`);
    });

  pipeline
    .command("list")
    .description("list the stages of a pipeline file")
    .argument("<file>", "pipeline YAML")
    .action(async (file: string) => {
      const spec = await loadPipeline(file);
      for (const s of spec.stages) {
        ctx().stdout.write(`${s.id}${s.service ? " (service)" : ""}: ${(s.run ?? s.service)!.join(" ")}${s.description ? `  # ${s.description}` : ""}\n`);
      }
    });
};
