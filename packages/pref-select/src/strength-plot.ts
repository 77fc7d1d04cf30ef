import type { SelectReport } from "./strength-report.js";

const COLORS = { flipped: "#d62728", kept: "#1f77b4", dropped: "#7f7f7f" } as const;
const ACTIONS = ["flipped", "kept", "dropped"] as const;

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function fmt(x: number): string {
  if (x === 0) return "0";
  const a = Math.abs(x);
  return a >= 1000 || a < 0.01 ? x.toExponential(1) : String(+x.toPrecision(3));
}

/** About `count` round tick values covering [lo, hi] (1-2-5 steps). */
export function niceTicks(params: { lo: number; hi: number; count?: number }): number[] {
  const { lo, hi } = params;
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / (params.count ?? 5);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const r = raw / mag;
  const step = (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(+t.toPrecision(12) || 0);
  return out;
}

interface Panel {
  x: number;
  y: number;
  w: number;
  h: number;
}

function axes(p: Panel, xr: [number, number], yr: [number, number], xlabel: string, ylabel: string): { sx: (v: number) => number; sy: (v: number) => number; svg: string } {
  const sx = (v: number): number => p.x + ((v - xr[0]) / (xr[1] - xr[0] || 1)) * p.w;
  const sy = (v: number): number => p.y + p.h - ((v - yr[0]) / (yr[1] - yr[0] || 1)) * p.h;
  const parts: string[] = [`<rect x="${p.x}" y="${p.y}" width="${p.w}" height="${p.h}" fill="none" stroke="#333"/>`];
  for (const t of niceTicks({ lo: xr[0], hi: xr[1] })) {
    const x = sx(t).toFixed(1);
    parts.push(`<line x1="${x}" y1="${p.y + p.h}" x2="${x}" y2="${p.y + p.h + 4}" stroke="#333"/><text x="${x}" y="${p.y + p.h + 16}" text-anchor="middle">${fmt(t)}</text>`);
  }
  for (const t of niceTicks({ lo: yr[0], hi: yr[1] })) {
    const y = sy(t).toFixed(1);
    parts.push(`<line x1="${p.x - 4}" y1="${y}" x2="${p.x}" y2="${y}" stroke="#333"/><text x="${p.x - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmt(t)}</text>`);
  }
  parts.push(`<text x="${p.x + p.w / 2}" y="${p.y + p.h + 34}" text-anchor="middle">${esc(xlabel)}</text>`);
  parts.push(`<text transform="translate(${p.x - 44} ${p.y + p.h / 2}) rotate(-90)" text-anchor="middle">${esc(ylabel)}</text>`);
  return { sx, sy, svg: parts.join("") };
}

/**
 * A two-panel SVG of a selection: left, the histogram of μ stacked by action (flipped, kept, dropped); right,
 * σ against μ per pair with the mean σ of each μ group drawn as a line. At most `maxPoints` points are drawn
 * (an even stride through the μ order, so the shape survives).
 *
 * @param params.maxPoints @default 4000
 */
export function renderStrengthSvg(params: { report: SelectReport; title?: string | undefined; maxPoints?: number | undefined }): string {
  const { report } = params;
  const W = 960;
  const H = 400;
  const left: Panel = { x: 70, y: 50, w: 380, h: 280 };
  const right: Panel = { x: 550, y: 50, w: 380, h: 280 };
  const s = report.summary;
  const title = params.title ?? `Preference strength over ${s.models} reward models: n = ${s.valid}, flipped ${s.flipped}, dropped ${s.dropped}`;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="14">${esc(title)}</text>`,
  ];
  const hist = report.histogram;
  if (hist.length) {
    const xr: [number, number] = [hist[0]!.from, hist[hist.length - 1]!.to];
    const top = Math.max(...hist.map((b) => b.kept + b.flipped + b.dropped));
    const a = axes(left, xr, [0, top * 1.05], "strength μ (mean of chosen − rejected)", "pairs");
    out.push(a.svg, `<g class="histogram">`);
    for (const b of hist) {
      let base = 0;
      for (const act of ACTIONS) {
        const c = b[act];
        if (!c) continue;
        const y0 = a.sy(base);
        const y1 = a.sy(base + c);
        out.push(`<rect class="bin ${act}" x="${a.sx(b.from).toFixed(1)}" y="${y1.toFixed(1)}" width="${Math.max(0.5, a.sx(b.to) - a.sx(b.from) - 0.5).toFixed(1)}" height="${(y0 - y1).toFixed(1)}" fill="${COLORS[act]}"/>`);
        base += c;
      }
    }
    out.push(`</g>`);
    const pts = report.points;
    const maxStd = Math.max(...pts.map((p) => p[1]), ...report.groups.map((g) => g.meanStd));
    const b = axes(right, xr, [0, maxStd > 0 ? maxStd * 1.05 : 1], "strength μ", "σ across reward models");
    out.push(b.svg, `<g class="points">`);
    const maxPoints = params.maxPoints ?? 4000;
    const stride = Math.max(1, pts.length / maxPoints);
    for (let f = 0; f < pts.length; f += stride) {
      const [mu, sd, act] = pts[Math.floor(f)]!;
      out.push(`<circle cx="${b.sx(mu).toFixed(1)}" cy="${b.sy(sd).toFixed(1)}" r="1.8" fill="${COLORS[act]}" fill-opacity="0.45"/>`);
    }
    out.push(`</g>`);
    const line = report.groups.map((g) => `${b.sx(g.meanStrength).toFixed(1)},${b.sy(g.meanStd).toFixed(1)}`).join(" ");
    out.push(`<polyline class="group-means" points="${line}" fill="none" stroke="#000" stroke-width="1.5"/>`);
    ACTIONS.forEach((act, i) => {
      out.push(`<rect x="${left.x + 8}" y="${left.y + 8 + i * 16}" width="10" height="10" fill="${COLORS[act]}"/><text x="${left.x + 22}" y="${left.y + 17 + i * 16}">${act} (${s[act]})</text>`);
    });
    out.push(`<line x1="${right.x + 8}" y1="${right.y + 13}" x2="${right.x + 26}" y2="${right.y + 13}" stroke="#000" stroke-width="1.5"/><text x="${right.x + 30}" y="${right.y + 17}">mean σ of ${report.groups.length} μ groups</text>`);
  } else {
    out.push(`<text x="${W / 2}" y="${H / 2}" text-anchor="middle">no scored pairs</text>`);
  }
  out.push(`</svg>\n`);
  return out.join("\n");
}
