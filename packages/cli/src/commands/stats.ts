import { StatsCollector, type LengthSummary, type RecordStats } from "@sfmed/schema";
import { parseEncoding, parseKind, readAny, recordBar, resolveInputs } from "./io-helpers.js";
import { hubParquetRecords, isHubParquet } from "./hub-inputs.js";
import type { Register } from "./index.js";

interface StatsFlags {
  json?: boolean;
  schema?: string;
  encoding?: string;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => [...r[i]!].length)));
  return rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ")).join("\n");
}

/** A readable report: counts per kind and source, turns, then length percentiles. */
export function renderStats(file: string, s: RecordStats): string {
  const out: string[] = [`${file}: ${s.records} records`];
  const counts = (title: string, m: Record<string, number>) => {
    const entries = Object.entries(m).sort((a, b) => b[1] - a[1]);
    if (entries.length) out.push("", table([[title, "records"], ...entries.map(([k, v]) => [k, String(v)])]));
  };
  counts("kind", s.byKind);
  counts("source", s.bySource);
  if (s.choice) {
    out.push("", `multi-answer questions: ${s.choice.multiAnswer}`);
    counts("subject", s.choice.bySubject);
  }
  const row = (name: string, l: LengthSummary) => [name, String(l.count), String(l.min), String(l.mean), String(l.p50), String(l.p90), String(l.p99), String(l.max)];
  const head = ["", "count", "min", "mean", "p50", "p90", "p99", "max"];
  const lengthRows = Object.entries(s.lengths).map(([k, v]) => row(`${k} chars`, v));
  if (s.turns) lengthRows.unshift(row("user turns", s.turns));
  if (lengthRows.length) out.push("", table([head, ...lengthRows]));
  if (s.turns) {
    const h = Object.entries(s.turns.histogram).sort((a, b) => Number(a[0]) - Number(b[0]));
    out.push("", `turns histogram: ${h.map(([k, v]) => `${k}:${v}`).join(" ")}`);
  }
  return out.join("\n") + "\n";
}

export const register: Register = (program, ctx) => {
  program
    .command("stats")
    .description("counts per kind and source, turns per dialogue, length percentiles")
    .argument("<file...>", "JSONL (gzip ok), JSON array, CSV or Parquet files (- reads stdin)")
    .option("--schema <kind>", "validate records as this kind (default: detect each record's kind)")
    .option("--json", "print JSON instead of a table")
    .option("--encoding <enc>", "text encoding: auto, utf-8, gb18030", "auto")
    .action(async (files: string[], o: StatsFlags) => {
      const c = ctx();
      const kind = parseKind(o.schema);
      const encoding = parseEncoding(o.encoding);
      const results: Array<{ file: string; stats: RecordStats }> = [];
      // An hf:// glob stands for several files: each is reported under its own (cached) path. Hub Parquet (a file or a *.parquet glob) is streamed by range requests: stats on a large split starts at once.
      const sources: Array<{ file: string; path: string; remote?: boolean }> = [];
      for (const f of files) {
        if (isHubParquet(f)) {
          sources.push({ file: f, path: f, remote: true });
          continue;
        }
        const got = await resolveInputs([f], { quiet: c.quiet });
        for (const p of got) sources.push({ file: got.length === 1 ? f : p, path: p });
      }
      for (const { file, path: source, remote } of sources) {
        // A remote glob reports each file under its hf:// URI at the resolved commit, as a local glob does per path.
        let current = remote ? undefined : file;
        let collector = new StatsCollector();
        const bar = recordBar(`stats ${file}`, c.quiet);
        let n = 0;
        try {
          const rows = remote ? hubParquetRecords(source, { kind }) : readAny(source, { kind, onInvalid: "error", encoding });
          for await (const r of rows) {
            if (remote && r.file !== current) {
              if (current !== undefined) results.push({ file: current, stats: collector.result() });
              current = r.file;
              collector = new StatsCollector();
            }
            collector.add(r.record, kind);
            if ((++n & 1023) === 0) bar.update(n);
          }
        } finally {
          bar.stop();
        }
        results.push({ file: current ?? file, stats: collector.result() });
      }
      if (o.json) c.stdout.write(JSON.stringify(results.length === 1 ? results[0] : results, null, 2) + "\n");
      else for (const r of results) c.stdout.write(renderStats(r.file, r.stats));
    });
};
