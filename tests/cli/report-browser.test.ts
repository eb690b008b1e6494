// report.html opened as a user opens it: in a real browser (Debian's chromium, headless, driven by
// playwright-core), offline. Every plot must render (a laid-out SVG whose data marks have a non-empty
// bounding box), the console must stay free of errors, and the page must ask for nothing but itself.
// A screenshot is saved for a person to look at. Skipped where chromium is not installed
// (scripts/setup-system.sh installs it).

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import { reportCommand } from "../../src/cli/report.js";
import { exampleConfig, runCommand } from "../helpers/examples.js";
import { decodePng, distinctColours } from "../helpers/png.js";
import { tempDir } from "../helpers/temp.js";

const CHROMIUM = "/usr/bin/chromium";

interface Plot {
  readonly id: string;
  readonly width: number;
  readonly height: number;
  readonly marks: number;
  readonly markWidth: number;
  readonly markHeight: number;
}

/**
 * Run in the page (as text: this project's TypeScript has no DOM types): each figure's SVG box, and
 * the box around its data marks (Vega's groups of class role-mark; axes, legends and titles have
 * other roles).
 */
const MEASURE = `[...document.querySelectorAll("figure.plot")].map((figure) => {
  const svg = figure.querySelector("svg");
  const box = svg.getBoundingClientRect();
  const marks = [...svg.querySelectorAll(".role-mark > path, .role-mark > line")];
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const mark of marks) {
    const r = mark.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    x0 = Math.min(x0, r.left); y0 = Math.min(y0, r.top);
    x1 = Math.max(x1, r.right); y1 = Math.max(y1, r.bottom);
  }
  return { id: figure.id, width: box.width, height: box.height, marks: marks.length,
           markWidth: x1 - x0, markHeight: y1 - y0 };
})`;

/** A metrics.csv with every common column and a model metric, as a fit with validation writes it. */
function metricsCsv(): string {
  const rows = ["epoch,step,cells,elapsed_s,cells_per_s,train_loss,lr,val_loss,val_elbo"];
  for (let step = 1; step <= 40; step++) {
    rows.push(
      `${Math.floor(step / 20)},${step},${step * 128},${step / 10},${1280 - step},${100 / step},${0.1 / step},,`,
    );
    if (step % 10 === 0)
      rows.push(`${Math.floor(step / 20)},${step},,${step / 10},,,,${120 / step},${130 / step}`);
  }
  return `${rows.join("\n")}\n`;
}

test("report.html renders every plot in headless Chromium, offline, without console errors", async () => {
  // a reference tool missing is a failure, not a skip: scripts/setup-system.sh installs it
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is not installed (run scripts/setup-system.sh)`);
  const dir = tempDir("report-browser-");
  await runCommand("hvg_seurat_v3", "fit", await exampleConfig("hvg_seurat_v3_train_config.yaml", dir));
  // The HVG run's own metrics.csv has only cells/s; this one adds the loss, lr and a model metric.
  await writeFile(join(dir, "hvg/lightning_logs/version_0/metrics.csv"), metricsCsv());
  const report = await reportCommand(join(dir, "hvg"), { png: false, log: () => {} });
  const expected = ["loss", "learning-rate", "cells-per-second", "metric-val_elbo", "hvg-mean-variance"];
  assert.deepEqual(report.charts, expected);

  const context = await chromium.launchPersistentContext(tempDir("chromium-profile-"), {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
      "--disable-sync",
    ],
    viewport: { width: 1280, height: 900 },
  });
  try {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
    });
    page.on("pageerror", (error) => errors.push(error.message));
    const requests: string[] = [];
    await page.route("**/*", (route) => {
      const url = route.request().url();
      requests.push(url);
      return url.startsWith("file:") ? route.continue() : route.abort();
    });
    const url = pathToFileURL(report.html).href;
    await page.goto(url, { waitUntil: "load" });

    const plots = (await page.evaluate(MEASURE)) as Plot[];
    assert.deepEqual(
      plots.map((p) => p.id),
      expected,
    );
    for (const plot of plots) {
      assert.ok(plot.width > 300 && plot.height > 200, `${plot.id}: svg ${plot.width} x ${plot.height}`);
      assert.ok(plot.marks > 0, `${plot.id}: no data marks`);
      // The marks span a good part of the plot: points spread along the step axis, not one dot.
      assert.ok(
        plot.markWidth > 100 && plot.markHeight > 50,
        `${plot.id}: marks span ${plot.markWidth} x ${plot.markHeight}`,
      );
    }
    assert.deepEqual(errors, []);
    assert.deepEqual(requests, [url]);

    const screenshot = join(tempDir("report-screenshot-"), "report.png");
    await page.screenshot({ path: screenshot, fullPage: true });
    const png = decodePng(await readFile(screenshot));
    assert.ok(png.width >= 1280 && png.height > 900, `screenshot ${png.width} x ${png.height}`);
    assert.ok(distinctColours(png) > 50, `screenshot: ${distinctColours(png)} colours`);
  } finally {
    await context.close();
  }
});
