import { renderMarkdown } from "./report-markdown.js";
import type { ChoiceSystemSummary, EvalReport } from "./report-types.js";

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7"];
const LABEL_W = 220;
const BAR_W = 420;

/** Horizontal grouped bars: one group per label, one bar per series; values in [0, max]. */
export function barChartSvg(title: string, labels: string[], series: { name: string; values: (number | undefined)[] }[], max: number, format: (v: number) => string): string {
  const barH = 14;
  const groupH = series.length * (barH + 2) + 10;
  const legendH = series.length > 1 ? 22 : 0;
  const h = 30 + legendH + labels.length * groupH;
  const w = LABEL_W + BAR_W + 70;
  const parts: string[] = [`<text x="0" y="16" font-weight="bold">${esc(title)}</text>`];
  if (legendH)
    series.forEach((s, k) => {
      const x = LABEL_W + k * 140;
      parts.push(`<rect x="${x}" y="26" width="12" height="12" fill="${PALETTE[k % PALETTE.length]}"/><text x="${x + 16}" y="37" font-size="12">${esc(s.name)}</text>`);
    });
  labels.forEach((label, i) => {
    const y0 = 30 + legendH + i * groupH;
    parts.push(`<text x="${LABEL_W - 8}" y="${y0 + groupH / 2}" text-anchor="end" font-size="12">${esc(label)}</text>`);
    series.forEach((s, k) => {
      const v = s.values[i];
      const y = y0 + 4 + k * (barH + 2);
      if (v === undefined || !Number.isFinite(v)) return;
      const width = Math.max(0, Math.min(1, v / max)) * BAR_W;
      parts.push(
        `<rect class="bar" x="${LABEL_W}" y="${y}" width="${width.toFixed(1)}" height="${barH}" fill="${PALETTE[k % PALETTE.length]}"><title>${esc(`${s.name} · ${label}: ${format(v)}`)}</title></rect>`,
        `<text x="${LABEL_W + width + 4}" y="${y + barH - 3}" font-size="11">${esc(format(v))}</text>`,
      );
    });
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif">${parts.join("")}</svg>`;
}

/** One stacked win/tie/loss bar per comparison. */
export function winTieLossSvg(rows: { label: string; win: number; tie: number; loss: number }[]): string {
  const barH = 22;
  const h = 50 + rows.length * (barH + 10);
  const w = LABEL_W + BAR_W + 20;
  const colors = { win: "#59a14f", tie: "#bab0ac", loss: "#e15759" } as const;
  const parts: string[] = [`<text x="0" y="16" font-weight="bold">Win / tie / loss</text>`];
  (["win", "tie", "loss"] as const).forEach((k, i) => parts.push(`<rect x="${LABEL_W + i * 80}" y="24" width="12" height="12" fill="${colors[k]}"/><text x="${LABEL_W + i * 80 + 16}" y="35" font-size="12">${k}</text>`));
  rows.forEach((r, i) => {
    const y = 46 + i * (barH + 10);
    parts.push(`<text x="${LABEL_W - 8}" y="${y + 15}" text-anchor="end" font-size="12">${esc(r.label)}</text>`);
    let x = LABEL_W;
    for (const k of ["win", "tie", "loss"] as const) {
      const width = r[k] * BAR_W;
      parts.push(`<rect class="${k}" x="${x.toFixed(1)}" y="${y}" width="${width.toFixed(1)}" height="${barH}" fill="${colors[k]}"><title>${k}: ${(100 * r[k]).toFixed(1)}%</title></rect>`);
      if (width > 30) parts.push(`<text x="${(x + width / 2).toFixed(1)}" y="${y + 15}" text-anchor="middle" font-size="11" fill="#fff">${(100 * r[k]).toFixed(1)}</text>`);
      x += width;
    }
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif">${parts.join("")}</svg>`;
}

function charts(r: EvalReport): string[] {
  const pct = (v: number) => `${(100 * v).toFixed(1)}`;
  switch (r.kind) {
    case "rouge":
      return [barChartSvg("ROUGE-L F ×100", r.systems.map((s) => s.model), [{ name: "ROUGE-L", values: r.systems.map((s) => s.f) }], 1, (v) => (100 * v).toFixed(2))];
    case "mc": {
      const subjects = [...new Set(r.systems.flatMap((s) => Object.keys(s.bySubject)))].sort();
      const sources = [...new Set(r.systems.flatMap((s) => Object.keys(s.bySource)))].sort();
      const series = (pick: (s: ChoiceSystemSummary, k: string) => number | undefined, keys: string[]) =>
        r.systems.map((s) => ({ name: s.model, values: keys.map((k) => pick(s, k)) }));
      const out = [barChartSvg("Accuracy ×100", ["overall"], series((s) => s.accuracy, ["overall"]), 1, pct)];
      if (sources.length) out.push(barChartSvg("Accuracy by source", sources, series((s, k) => s.bySource[k]?.accuracy, sources), 1, pct));
      if (subjects.length) out.push(barChartSvg("Accuracy by subject", subjects, series((s, k) => s.bySubject[k]?.accuracy, subjects), 1, pct));
      return out;
    }
    case "judge": {
      const max = Number(/-(\d+)$/.exec(r.rubric)?.[1] ?? 10);
      return [barChartSvg(`Mean judge score (${r.rubric})`, r.systems.map((s) => s.model), [{ name: "score", values: r.systems.map((s) => s.mean) }], max, (v) => v.toFixed(2))];
    }
    case "compare":
      return [winTieLossSvg(r.comparisons.map((c) => ({ label: `${c.a} vs ${c.b}`, win: c.result.winRate, tie: c.result.tieRate, loss: c.result.lossRate })))];
  }
}

function markdownTableToHtml(md: string): string {
  const lines = md.trim().split("\n");
  const out: string[] = [];
  let inTable = false;
  for (const line of lines) {
    if (line.startsWith("|")) {
      if (/^\|(-+\|)+$/.test(line)) continue;
      const cells = line.slice(2, -2).split(/ (?<!\\)\| /).map((c) => esc(c.replace(/\\\|/g, "|")));
      if (!inTable) {
        out.push("<table><thead><tr>" + cells.map((c) => `<th>${c}</th>`).join("") + "</tr></thead><tbody>");
        inTable = true;
      } else out.push("<tr>" + cells.map((c) => `<td>${c}</td>`).join("") + "</tr>");
    } else if (line.trim()) out.push(`<p>${esc(line)}</p>`);
  }
  if (inTable) out.push("</tbody></table>");
  return out.join("\n");
}

/** A self-contained HTML page (no scripts, no external assets): the table plus inline SVG charts. */
export function renderHtml(report: EvalReport, opts: { title?: string } = {}): string {
  const title = opts.title ?? `sfmed eval ${report.kind}`;
  return `<!doctype html>
<html lang="zh">
<head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:sans-serif;max-width:980px;margin:2em auto;color:#222}table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}th:first-child,td:first-child{text-align:left}figure{margin:1.5em 0}</style>
</head>
<body>
<h1>${esc(title)}</h1>
${markdownTableToHtml(renderMarkdown(report))}
${charts(report)
  .map((svg) => `<figure>${svg}</figure>`)
  .join("\n")}
</body>
</html>
`;
}
