// report.html opened as a user opens it: in a real browser (Debian's chromium, headless, driven by
// playwright-core), offline. Every plot must render (a laid-out SVG whose data marks have a non-empty
// bounding box), the console must stay free of errors, and the page must ask for nothing but itself.
// A screenshot is saved for a person to look at. Every kind of plot is on one of the pages checked,
// and every PNG written beside them is a plot (not blank). Chromium missing is a failure
// (scripts/setup-system.sh installs it).

import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { test } from "node:test";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";
import { reportCommand } from "../../src/cli/report.js";
import { H5adRowWriter } from "../../src/formats/h5ad/row-writer.js";
import { CONFUSION_CSV, confusionCsv } from "../../src/report/confusion.js";
import { exampleConfig, runCommand } from "../helpers/examples.js";
import { decodePng, distinctColours } from "../helpers/png.js";
import { COLUMNS, predictions, writePredictions } from "../helpers/predictions.js";
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

/** A metrics.csv with every common column and model metrics, as a fit with validation writes it. */
function metricsCsv(): string {
  const rows = ["epoch,step,cells,elapsed_s,cells_per_s,train_loss,lr,val_loss,val_elbo,val_mlm_accuracy"];
  for (let step = 1; step <= 40; step++) {
    rows.push(
      `${Math.floor(step / 20)},${step},${step * 128},${step / 10},${1280 - step},${100 / step},${0.1 / step},,,`,
    );
    if (step % 10 === 0)
      rows.push(`${Math.floor(step / 20)},${step},,${step / 10},,,,${120 / step},${130 / step},${step / 50}`);
  }
  return `${rows.join("\n")}\n`;
}

/**
 * The reports of every kind of plot: an HVG run (its metrics.csv replaced by one with the loss, lr,
 * model metrics, and a classifier's validation confusion matrix beside it), a TDigest run, and a
 * predictions .h5ad (an embedding UMAP and a confusion matrix).
 */
async function reports(dir: string): Promise<{ html: string; pngs: readonly string[]; charts: string[] }[]> {
  await runCommand("hvg_seurat_v3", "fit", await exampleConfig("hvg_seurat_v3_train_config.yaml", dir));
  const version = join(dir, "hvg/lightning_logs/version_0");
  await writeFile(join(version, "metrics.csv"), metricsCsv());
  await writeFile(
    join(version, CONFUSION_CSV),
    confusionCsv(
      ["B cell", "T cell"],
      [
        [40, 3],
        [5, 52],
      ],
    ),
  );
  await runCommand("tdigest", "fit", await exampleConfig("tdigest_train_config.yaml", dir));
  const h5ad = join(dir, "preds.h5ad");
  await writePredictions(await H5adRowWriter.create(h5ad, COLUMNS), predictions());
  const quiet = { log: () => {} };
  return [
    {
      ...(await reportCommand(join(dir, "hvg"), quiet)),
      charts: [
        "loss",
        "learning-rate",
        "cells-per-second",
        "metric-val_elbo",
        "metric-val_mlm_accuracy",
        "hvg-mean-variance",
        "confusion-matrix",
      ],
    },
    {
      ...(await reportCommand(join(dir, "tdigest"), quiet)),
      charts: ["cells-per-second", "tdigest-medians"],
    },
    {
      ...(await reportCommand(h5ad, { ...quiet, embedding: "X_scvi" })),
      charts: ["embedding", "confusion-matrix"],
    },
  ];
}

test("report.html renders every plot in headless Chromium, offline, without console errors; every PNG is a plot", async () => {
  // a reference tool missing is a failure, not a skip: scripts/setup-system.sh installs it
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is not installed (run scripts/setup-system.sh)`);
  const dir = tempDir("report-browser-");
  const pages = await reports(dir);
  for (const report of pages) {
    assert.deepEqual(
      report.pngs.map((png) => basename(png, ".png")),
      report.charts,
    );
    for (const path of report.pngs) {
      const png = decodePng(await readFile(path));
      assert.ok(png.width >= 800 && png.height >= 400, `${path}: ${png.width} x ${png.height}`);
      assert.ok(distinctColours(png) > 20, `${path}: ${distinctColours(png)} colours`);
    }
  }

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
    for (const report of pages) {
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
        report.charts,
      );
      for (const plot of plots) {
        assert.ok(plot.width > 300 && plot.height > 200, `${plot.id}: svg ${plot.width} x ${plot.height}`);
        assert.ok(plot.marks > 0, `${plot.id}: no data marks`);
        // The marks span a good part of the plot: points spread along the axes, not one dot.
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
      assert.ok(png.width >= 1280 && png.height > 500, `screenshot ${png.width} x ${png.height}`);
      assert.ok(distinctColours(png) > 50, `screenshot: ${distinctColours(png)} colours`);
      await page.close();
    }
  } finally {
    await context.close();
  }
});
