import path from "node:path";
import type { CliContext } from "../context.js";
import type { Register } from "./index.js";
import { loadPipeline } from "../pipeline/spec.js";
import { runPipeline, type StageEvent } from "../pipeline/run-pipeline.js";
import { startPipelineService } from "../pipeline/services.js";
import { renderPipelineReport } from "../pipeline/html-report.js";
import { atomicWrite, removeTempsNow } from "@sfmed/schema";
import { runCli } from "../run.js";
import { signalExitCode, watchStopSignals } from "../signals.js";

const list = (v: string, prev: string[] = []) => [...prev, ...v.split(",").map((s) => s.trim()).filter(Boolean)];

/** One line per stage event: ▶ running, ✓ done or cached, ✗ failed, · would run (dry run). */
function stagePrinter(c: CliContext): (e: StageEvent) => void {
  return (e) => {
    if (e.status === "running") c.info(`▶ ${e.stage}: sfmed ${e.argv?.join(" ") ?? ""}`);
    else if (e.status === "resumed") c.info(`▶ ${e.stage} (continuing an unfinished run): sfmed ${e.argv?.join(" ") ?? ""}`);
    else if (e.status === "interrupted") c.info(`■ ${e.stage}: stopped`);
    else if (e.status === "cached") c.info(`✓ ${e.stage} (cached)`);
    else if (e.status === "done") c.info(`✓ ${e.stage} (${((e.ms ?? 0) / 1000).toFixed(1)} s)`);
    else if (e.status === "failed") c.info(`✗ ${e.stage}: ${e.error ?? "failed"}`);
    else if (e.status === "skipped" && e.argv) c.info(`· ${e.stage} would run: sfmed ${e.argv.join(" ")}`);
  };
}

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
      const onStage = stagePrinter(c);
      // SIGINT/SIGTERM reach the running stage too (it runs in this process). A training stage saves a checkpoint
      // and returns 130/143, and the run stops there; any other stage cannot be stopped halfway, so the process
      // ends at once (its outputs are written atomically, its folder stays unfinished). A second signal forces.
      const stop = new AbortController();
      let current: string[] | undefined;
      const signals = watchStopSignals((sig, n) => {
        const graceful = n === 1 && current?.[0] === "train" && ["pt", "sft", "rm", "dpo", "resume"].includes(current[1] ?? "");
        if (graceful) {
          // The train command says that it is saving a checkpoint.
          stop.abort(sig);
          return;
        }
        c.info(`stopped by ${sig}; run \`sfmed pipeline run ${file}\` again to resume`);
        removeTempsNow();
        process.exit(signalExitCode(sig));
      });
      let result: Awaited<ReturnType<typeof runPipeline>>;
      try {
        result = await runPipeline(spec, {
          runCommand: (argv) => runCli(c.quiet ? ["--quiet", ...argv] : argv),
          startService: (argv) => startPipelineService(argv, (l) => c.info(`  ${l}`)),
          ...(o.force ? { force: o.force } : {}),
          ...(o.until ? { until: o.until } : {}),
          ...(o.dryRun ? { dryRun: true } : {}),
          signal: stop.signal,
          onNotice: (m) => c.info(m),
          onStage: (e) => {
            current = e.status === "running" || e.status === "resumed" ? e.argv : undefined;
            onStage(e);
          },
        });
      } finally {
        signals.dispose();
      }
      const counts = result.stages.reduce<Record<string, number>>((a, s) => ((a[s.status] = (a[s.status] ?? 0) + 1), a), {});
      if (o.dryRun) {
        c.info(`pipeline ${spec.name} (dry run, nothing written): ${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(", ")}`);
        return;
      }
      const html = path.join(result.out, "report.html");
      await atomicWrite(html, [await renderPipelineReport(result)]);
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
