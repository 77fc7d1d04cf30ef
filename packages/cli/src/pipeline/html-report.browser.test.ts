import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { tempDir } from "@sfmed/test-utils";
import { chromium } from "playwright-core";
import { describe, expect, it } from "vitest";
import { renderPipelineReport } from "./html-report.js";

/** The system Chromium (Debian's `chromium` package); CI installs it and sets SFMED_REQUIRE_BROWSER=1. */
const browserPath = [process.env.SFMED_CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].find((p) => p && existsSync(p));
const required = process.env.SFMED_REQUIRE_BROWSER === "1";
if (required && !browserPath) throw new Error("SFMED_REQUIRE_BROWSER=1 but no Chromium found (apt-get install chromium, or set SFMED_CHROMIUM)");

describe.skipIf(!browserPath)("pipeline HTML report in a real browser", () => {
  it("renders the stage table, timing chart and each stage's charts", async () => {
    const out = await tempDir();
    const stageDir = (id: string) => path.join(out, id);
    await mkdir(stageDir("eval"), { recursive: true });
    await writeFile(path.join(stageDir("eval"), "report.json"), JSON.stringify({ winTieLoss: { win: 12, tie: 5, loss: 3 }, perSubject: { anatomy: 0.61, virology: 0.44 } }));
    await mkdir(stageDir("dedup"), { recursive: true });
    await writeFile(path.join(stageDir("dedup"), "report.json"), JSON.stringify({ input: 1000, kept: 870, clusterSizeHistogram: { "2": 90, "3": 12, "4+": 4 } }));
    await writeFile(path.join(stageDir("dedup"), "plot.svg"), '<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100"><rect width="200" height="100" fill="#3b82f6"/></svg>');
    const html = await renderPipelineReport({
      name: "mini <sfmed>",
      out,
      ms: 4200,
      stages: [
        { id: "dedup", status: "done", key: "k1", dir: stageDir("dedup"), ms: 1200, argv: ["dedup", "a.jsonl", "-o", "b.jsonl"] },
        { id: "eval", status: "cached", key: "k2", dir: stageDir("eval"), ms: 0 },
      ],
    });
    const file = path.join(out, "report.html");
    await writeFile(file, html);
    const browser = await chromium.launch({ executablePath: browserPath!, args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`file://${file}`);
      expect(await page.title()).toBe("mini <sfmed> — sfmed pipeline report");
      expect(await page.locator("#stages tbody tr").count()).toBe(2);
      expect(await page.locator("#stages tr.cached td").first().textContent()).toBe("eval");
      // timing + win/tie/loss + subjects + histogram
      const charts = page.locator("svg.chart");
      expect(await charts.count()).toBe(4);
      const wtl = page.locator('svg[aria-label="win / tie / loss"] rect.bar');
      expect(await wtl.count()).toBe(3);
      const widths = await wtl.evaluateAll((els) => els.map((e) => (e as unknown as { getBBox(): { width: number } }).getBBox().width));
      expect(widths[0]).toBeGreaterThan(widths[1]!);
      expect(widths[1]).toBeGreaterThan(widths[2]!);
      const box = await page.locator('svg[aria-label="accuracy by subject"]').boundingBox();
      expect(box?.width).toBeGreaterThan(100);
      expect(await page.locator("#stage-dedup table.metrics th", { hasText: "kept" }).count()).toBe(1);
      // An SVG plot written by a stage is embedded and actually decodes as an image.
      const plot = page.locator("#stage-dedup img.plot");
      expect(await plot.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBe(200);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
