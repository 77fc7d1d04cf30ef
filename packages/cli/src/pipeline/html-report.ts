import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { StageResult } from "./run-pipeline.js";

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

/** Numbers found at the top level (or one level down) of a stage report, for a compact table. */
function flatNumbers(obj: unknown, prefix = "", depth = 0, out: Array<[string, number]> = []): Array<[string, number]> {
  if (!obj || typeof obj !== "object" || Array.isArray(obj) || depth > 2) return out;
  for (const [k, v] of Object.entries(obj as Record<string, unknown>)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (typeof v === "number" && Number.isFinite(v)) out.push([key, v]);
    else if (v && typeof v === "object" && !Array.isArray(v)) flatNumbers(v, key, depth + 1, out);
    if (out.length >= 40) break;
  }
  return out;
}

const fmt = (v: number) => (Number.isInteger(v) ? v.toLocaleString("en-US") : Math.abs(v) < 1e-3 || Math.abs(v) >= 1e6 ? v.toExponential(3) : v.toFixed(4));

/** A horizontal bar chart as inline SVG (no scripts, no external assets). */
export function barChart(title: string, bars: Array<{ label: string; value: number; color?: string }>, opts: { max?: number; unit?: string } = {}): string {
  const w = 560;
  const rowH = 22;
  const labelW = 170;
  const max = opts.max ?? Math.max(1e-12, ...bars.map((b) => Math.abs(b.value)));
  const h = bars.length * rowH + 28;
  const rows = bars
    .map((b, i) => {
      const y = 24 + i * rowH;
      const bw = Math.max(0, (Math.abs(b.value) / max) * (w - labelW - 80));
      return `<text x="${labelW - 6}" y="${y + 14}" text-anchor="end">${esc(b.label)}</text><rect class="bar" x="${labelW}" y="${y + 3}" width="${bw.toFixed(1)}" height="${rowH - 6}" fill="${b.color ?? "#3b82f6"}"><title>${esc(b.label)}: ${fmt(b.value)}</title></rect><text x="${labelW + bw + 6}" y="${y + 14}">${fmt(b.value)}${opts.unit ?? ""}</text>`;
    })
    .join("");
  return `<svg class="chart" role="img" aria-label="${esc(title)}" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="system-ui,sans-serif" font-size="12"><text x="0" y="14" font-weight="600">${esc(title)}</text>${rows}</svg>`;
}

/** Charts for the report shapes the stages write (win/tie/loss, accuracy, dedup and selection counts). */
function chartsFor(report: Record<string, unknown>): string[] {
  const charts: string[] = [];
  const inner = (report.report && typeof report.report === "object" ? report.report : report) as Record<string, unknown>;
  const wtlChart = (title: string, r: Record<string, unknown> | undefined) => {
    if (r && typeof r.win === "number" && typeof r.tie === "number" && typeof r.loss === "number") {
      charts.push(barChart(title, [
        { label: "win", value: r.win, color: "#16a34a" },
        { label: "tie", value: r.tie, color: "#9ca3af" },
        { label: "loss", value: r.loss, color: "#dc2626" },
      ]));
    }
  };
  wtlChart("win / tie / loss", (inner.winTieLoss ?? inner.win_tie_loss) as Record<string, unknown> | undefined);
  // eval compare: one chart per comparison.
  if (Array.isArray(inner.comparisons)) {
    for (const c of inner.comparisons as Array<{ a?: string; b?: string; result?: Record<string, unknown> }>) {
      wtlChart(`win / tie / loss: ${c.a ?? "a"} vs ${c.b ?? "b"}${typeof inner.metric === "string" ? ` (${inner.metric})` : ""}`, c.result);
    }
  }
  // eval mc: accuracy per system, then by subject/source.
  if (Array.isArray(inner.systems)) {
    const systems = inner.systems as Array<{ model?: string; accuracy?: number; bySubject?: Record<string, { accuracy?: number }>; bySource?: Record<string, { accuracy?: number }> }>;
    const acc = systems.filter((x) => typeof x.accuracy === "number").map((x) => ({ label: x.model ?? "?", value: x.accuracy! }));
    if (acc.length) charts.push(barChart("accuracy", acc, { max: 1 }));
    for (const x of systems) {
      const groups = { ...(x.bySource ?? {}), ...(x.bySubject ?? {}) };
      const bars = Object.entries(groups).filter(([, v]) => typeof v?.accuracy === "number").map(([k, v]) => ({ label: k, value: v.accuracy! }));
      if (bars.length > 1) charts.push(barChart(`accuracy by subject: ${x.model ?? ""}`, bars, { max: 1 }));
    }
  }
  const subj = (inner.perSubject ?? inner.bySubject) as Record<string, unknown> | undefined;
  if (subj && typeof subj === "object") {
    const bars = Object.entries(subj)
      .map(([k, v]) => ({ label: k, value: typeof v === "number" ? v : typeof (v as { accuracy?: unknown })?.accuracy === "number" ? (v as { accuracy: number }).accuracy : NaN }))
      .filter((b) => Number.isFinite(b.value));
    if (bars.length) charts.push(barChart("accuracy by subject", bars, { max: 1 }));
  }
  // dedup: kept/removed per source.
  const per = inner.perSource as Record<string, { input?: number; kept?: number }> | undefined;
  if (per && typeof per === "object" && Object.values(per).every((v) => typeof v?.kept === "number")) {
    charts.push(barChart("kept records per source", Object.entries(per).map(([k, v]) => ({ label: k, value: v.kept! }))));
  }
  const hist = (inner.clusterSizes ?? inner.clusterSizeHistogram ?? inner.histogram) as Record<string, unknown> | undefined;
  if (hist && typeof hist === "object" && !Array.isArray(hist)) {
    const bars = Object.entries(hist).filter(([, v]) => typeof v === "number").map(([k, v]) => ({ label: k, value: v as number }));
    if (bars.length && bars.length <= 30) charts.push(barChart("cluster sizes", bars));
  }
  // pref select: what happened to the pairs.
  const sum = inner.summary as Record<string, unknown> | undefined;
  if (sum && typeof sum.kept === "number" && typeof sum.flipped === "number" && typeof sum.dropped === "number") {
    charts.push(barChart("preference pairs", [
      { label: "kept", value: sum.kept, color: "#16a34a" },
      { label: "flipped", value: sum.flipped, color: "#f59e0b" },
      { label: "dropped", value: sum.dropped, color: "#dc2626" },
    ]));
  }
  return charts;
}

/** SVG plots a stage wrote (embedded as data URLs so the page stays one file). */
async function stagePlots(dir: string): Promise<Array<{ file: string; data: Buffer }>> {
  try {
    const names = (await readdir(dir)).filter((n) => n.endsWith(".svg")).sort();
    return Promise.all(names.map(async (file) => ({ file, data: await readFile(path.join(dir, file)) })));
  } catch {
    return [];
  }
}

/** The JSON reports stages write (`report.json`, `X.report.json`, and eval/probe summaries). */
const REPORT_FILE = /(^|\.)report\.json$|^(compare|mc|rouge|judge|memorization|gate)\.json$/i;

async function stageReports(dir: string): Promise<Array<{ file: string; data: Record<string, unknown> }>> {
  let names: string[] = [];
  try {
    names = (await readdir(dir)).filter((n) => REPORT_FILE.test(n)).sort();
  } catch {
    return [];
  }
  const out: Array<{ file: string; data: Record<string, unknown> }> = [];
  for (const n of names) {
    try {
      const data = JSON.parse(await readFile(path.join(dir, n), "utf8")) as unknown;
      if (data && typeof data === "object" && !Array.isArray(data)) out.push({ file: n, data: data as Record<string, unknown> });
    } catch {
      /* not JSON: skip */
    }
  }
  return out;
}

/** One self-contained HTML page for a pipeline run: stage table, timings chart, and each stage's report. */
export async function renderPipelineReport(run: { name: string; out: string; stages: StageResult[]; ms: number }): Promise<string> {
  const sections: string[] = [];
  for (const s of run.stages) {
    const reports = await stageReports(s.dir);
    const plots = await stagePlots(s.dir);
    if (!reports.length && !plots.length) continue;
    const parts = reports.map((r) => {
      const nums = flatNumbers(r.data);
      const table = nums.length
        ? `<details><summary>${nums.length} numbers</summary><table class="metrics"><tbody>${nums.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${fmt(v)}</td></tr>`).join("")}</tbody></table></details>`
        : "";
      return `<h3>${esc(r.file)}</h3>${chartsFor(r.data).join("")}${table}`;
    });
    const imgs = plots.map((p) => `<figure><img class="plot" alt="${esc(p.file)}" src="data:image/svg+xml;base64,${p.data.toString("base64")}"><figcaption>${esc(p.file)}</figcaption></figure>`);
    sections.push(`<section id="stage-${esc(s.id)}"><h2>${esc(s.id)}</h2>${parts.join("")}${imgs.join("")}</section>`);
  }
  const timing = barChart(
    "stage time (s)",
    run.stages.map((s) => ({ label: s.id, value: s.ms / 1000, color: s.status === "cached" ? "#9ca3af" : s.status === "failed" ? "#dc2626" : "#3b82f6" })),
    { unit: " s" },
  );
  const rows = run.stages
    .map((s) => `<tr class="${s.status}"><td>${esc(s.id)}</td><td>${s.status}</td><td>${(s.ms / 1000).toFixed(1)}</td><td><code>${esc((s.argv ?? []).join(" "))}</code></td></tr>`)
    .join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(run.name)} — sfmed pipeline report</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1000px;color:#111;padding:0 1rem}
table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;font-size:13px;vertical-align:top}
th{background:#f6f6f6}tr.failed td{background:#fee2e2}tr.cached td{color:#666}code{font-size:12px;word-break:break-all}
section{border-top:1px solid #eee;margin-top:1.5rem}img.plot{max-width:100%}
</style></head><body>
<h1>${esc(run.name)}</h1>
<p>${run.stages.length} stages; this run took ${(run.ms / 1000).toFixed(1)} s (times of cached stages are those of the run that produced them) · output <code>${esc(run.out)}</code></p>
<table id="stages"><thead><tr><th>stage</th><th>status</th><th>seconds</th><th>command</th></tr></thead><tbody>${rows}</tbody></table>
${timing}
${sections.join("\n")}
</body></html>
`;
}
