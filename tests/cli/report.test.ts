// `cellarium report` on real runs of the example configs (demo data, small overrides): the plots in
// report.html carry metrics.csv's values and the checkpoint's attributes; the PNGs are real images.

import assert from "node:assert/strict";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { loadPipeline } from "../../src/cli/checkpoint-pipeline.js";
import { modelByCommand } from "../../src/cli/registry.js";
import { reportCommand } from "../../src/cli/report.js";
import { runModelCommand } from "../../src/cli/run.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { assertOneLine, cli, cliStdout } from "../helpers/cli-capture.js";
import { exampleConfig, runCommand } from "../helpers/examples.js";
import { decodePng, distinctColours } from "../helpers/png.js";
import { externalReferences, figureSvgs, pointLabels } from "../helpers/svg.js";
import { tempDir } from "../helpers/temp.js";

/** metrics.csv read here by hand: [step, value] of each row where `column` has a value. */
function column(text: string, name: string): [number, number][] {
  const [header, ...lines] = text.trim().split("\n");
  const columns = header!.split(",");
  const at = columns.indexOf(name);
  const step = columns.indexOf("step");
  return lines
    .map((line) => line.split(","))
    .filter((cells) => cells[at] !== "")
    .map((cells) => [Number(cells[step]), Number(cells[at])]);
}

/**
 * Plotted [step, value] pairs against metrics.csv's: the same steps, the values to the 12 significant
 * digits that Vega's labels carry.
 */
function assertSeries(plotted: number[][], expected: [number, number][], what: string): void {
  assert.equal(plotted.length, expected.length, what);
  plotted.forEach(([step, value], i) => {
    const [s, v] = expected[i]!;
    assert.equal(step, s, `${what}: step of point ${i}`);
    assert.ok(Math.abs(value! - v) <= 1e-11 * Math.abs(v), `${what}: point ${i}: ${value} vs ${v}`);
  });
}

/** Checks a report's page: one inline SVG with data marks per chart, nothing fetched from elsewhere. */
async function readReport(html: string, charts: readonly string[]): Promise<Map<string, string>> {
  const page = await readFile(html, "utf8");
  const svgs = figureSvgs(page);
  assert.deepEqual([...svgs.keys()], charts);
  assert.equal(page.match(/<svg/g)?.length ?? 0, charts.length);
  for (const [id, svg] of svgs)
    assert.ok(/class="mark-(symbol|rect) role-mark/.test(svg), `${id}: data marks`);
  assert.deepEqual(externalReferences(page), []);
  assert.doesNotMatch(page, /<script/i);
  return svgs;
}

/** Vega-Lite's first category colour, #4c78a8: drawn only by data marks (and legend symbols). */
function bluePixels(png: ReturnType<typeof decodePng>): number {
  let n = 0;
  for (let i = 0; i < png.pixels.length; i += png.channels) {
    const [r, g, b] = png.pixels.subarray(i, i + 3);
    if (Math.abs(r! - 0x4c) < 24 && Math.abs(g! - 0x78) < 24 && Math.abs(b! - 0xa8) < 24) n++;
  }
  return n;
}

/** A PNG beside the page: the SVG's size at 2 pixels per unit, and a plot rather than a blank. */
async function checkPng(path: string, svg: string): Promise<ReturnType<typeof decodePng>> {
  const png = decodePng(await readFile(path));
  const width = Number(/<svg[^>]*\swidth="(\d+)"/.exec(svg)![1]);
  const height = Number(/<svg[^>]*\sheight="(\d+)"/.exec(svg)![1]);
  assert.equal(png.width, 2 * width, path);
  assert.equal(png.height, 2 * height, path);
  assert.ok(png.width >= 800 && png.height >= 400, `${path}: ${png.width} x ${png.height}`);
  assert.ok(distinctColours(png) > 20, `${path}: ${distinctColours(png)} colours`);
  let inked = 0;
  for (let i = 0; i < png.pixels.length; i += png.channels)
    if (png.pixels[i]! < 200 || png.pixels[i + 1]! < 200 || png.pixels[i + 2]! < 200) inked++;
  assert.ok(inked / (png.width * png.height) > 0.01, `${path}: ${inked} non-white pixels`);
  return png;
}

test("report of a logistic-regression run and of an IncrementalPCA checkpoint: the plots carry the run's numbers", async () => {
  const dir = tempDir("report-");
  await runCommand("onepass_mean_var_std", "fit", await exampleConfig("onepass_train_config.yaml", dir));
  await runCommand("logistic_regression", "fit", await exampleConfig("lr_train_config.yaml", dir), [
    ["trainer.max_epochs", 2],
    ["data.batch_size", 200],
  ]);
  const lines: string[] = [];
  const lr = await reportCommand(join(dir, "lr"), { log: (line) => lines.push(line) });
  const charts = ["loss", "learning-rate", "cells-per-second"];
  assert.deepEqual(lr.charts, charts);
  assert.equal(lr.html, join(dir, "lr/report.html"));
  assert.deepEqual(lines, [`wrote ${lr.html} (3 plot(s), 3 PNG(s) beside it)`]);
  const svgs = await readReport(lr.html, charts);

  // 1,600 training cells in batches of 200, 2 epochs, a row every step; validation after each epoch.
  const metrics = await readFile(join(dir, "lr/lightning_logs/version_0/metrics.csv"), "utf8");
  const trainLoss = column(metrics, "train_loss");
  const valLoss = column(metrics, "val_loss");
  assert.equal(trainLoss.length, 16);
  assert.equal(valLoss.length, 2);
  const points = pointLabels(svgs.get("loss")!);
  for (const [series, expected] of [
    ["train_loss", trainLoss],
    ["val_loss", valLoss],
  ] as const) {
    const plotted = points.filter((p) => p.series === series).map((p) => [Number(p.step), Number(p.loss)]);
    assertSeries(plotted, [...expected], series);
  }
  assertSeries(
    pointLabels(svgs.get("learning-rate")!).map((p) => [Number(p.step), Number(p["learning rate"])]),
    column(metrics, "lr"),
    "lr",
  );
  assertSeries(
    pointLabels(svgs.get("cells-per-second")!).map((p) => [Number(p.step), Number(p["cells/s"])]),
    column(metrics, "cells_per_s"),
    "cells_per_s",
  );

  assert.deepEqual(
    lr.pngs,
    charts.map((id) => join(dir, "lr", `${id}.png`)),
  );
  for (const [i, id] of charts.entries()) {
    const png = await checkPng(lr.pngs[i]!, svgs.get(id)!);
    // The single-series plots have no legend: their blue is the data's line and points.
    if (id !== "loss") assert.ok(bluePixels(png) > 200, `${id}: ${bluePixels(png)} blue pixels`);
  }

  // The IncrementalPCA checkpoint (ModelCheckpoint's dirpath: <root>/checkpoints), its report in --out.
  await runCommand("incremental_pca", "fit", await exampleConfig("ipca_train_config.yaml", dir), [
    ["model.model.init_args.n_components", 5],
    ["data.batch_size", 500],
  ]);
  const checkpoint = join(dir, "ipca/checkpoints/ipca.safetensors");
  const out = join(dir, "ipca-report");
  const ipca = await reportCommand(checkpoint, { out, log: () => {} });
  const pcaCharts = ["pca-explained-variance", "pca-cumulative-ratio"];
  assert.deepEqual(ipca.charts, pcaCharts);
  assert.equal(ipca.html, join(out, "report.html"));
  const pcaSvgs = await readReport(ipca.html, pcaCharts);
  const model = (await loadPipeline(checkpoint)).model;
  const explained = Array.from((model.attribute!("explained_variance_k") as Tensor).data);
  const bars = pointLabels(pcaSvgs.get("pca-explained-variance")!);
  assert.equal(bars.length, 5);
  bars.forEach((bar, i) => {
    assert.equal(Number(bar["principal component"]), i + 1);
    assert.ok(Math.abs(Number(bar["explained variance"]) - explained[i]!) <= 1e-9 * explained[i]!);
  });
  // The example's "scatter" algorithm keeps the total variance: the ratio is of the data's variance.
  const total = model.attribute!("total_variance") as number;
  let sum = 0;
  pointLabels(pcaSvgs.get("pca-cumulative-ratio")!).forEach((p, i) => {
    sum += explained[i]!;
    assert.ok(Math.abs(Number(p["cumulative ratio"]) - sum / total) < 1e-9);
  });
  for (const [i, id] of pcaCharts.entries()) await checkPng(ipca.pngs[i]!, pcaSvgs.get(id)!);
  // Four steps, logged every 10: metrics.csv has a header and no rows, which the page says.
  const page = await readFile(ipca.html, "utf8");
  assert.match(page, /metrics\.csv has a header and no rows/);
  assert.match(page, /<th>model<\/th><td>IncrementalPCA<\/td>/);

  // The command line: --out and --no-png (stdout read from a child process).
  const htmlOnly = join(dir, "html-only");
  const stdout = cliStdout(["report", join(dir, "lr"), "--out", htmlOnly, "--no-png"]);
  assert.equal(stdout, `wrote ${join(htmlOnly, "report.html")} (3 plot(s))\n`);
  assert.deepEqual(await readdir(htmlOnly), ["report.html"]);
});

test("report of an HVG run: the mean-variance plot of every gene, the selected ones highlighted", async () => {
  const dir = tempDir("report-hvg-");
  await runCommand("hvg_seurat_v3", "fit", await exampleConfig("hvg_seurat_v3_train_config.yaml", dir));
  const result = await reportCommand(join(dir, "hvg"), { log: () => {} });
  assert.deepEqual(result.charts, ["cells-per-second", "hvg-mean-variance"]);
  const svgs = await readReport(result.html, result.charts);
  const model = (await loadPipeline(join(dir, "hvg/checkpoints/hvg.safetensors"))).model;
  const means = (model.attribute!("means") as Tensor).data;
  const variances = (model.attribute!("variances") as Tensor).data;
  const selected = (model.attribute!("highly_variable") as Tensor).data;
  const names = model.attribute!("var_names_g") as string[];
  const plotted = new Map(pointLabels(svgs.get("hvg-mean-variance")!).map((p) => [p.gene!, p]));
  let expected = 0;
  for (const [g, gene] of names.entries()) {
    const point = plotted.get(gene);
    if (!(means[g]! > 0 && variances[g]! > 0)) {
      assert.equal(point, undefined, gene);
      continue;
    }
    expected++;
    assert.ok(point, gene);
    assert.equal(point.selected, selected[g] === 1 ? "selected" : "other", gene);
    const log10Mean = Number(point["log10 mean"]!.replace("\u2212", "-"));
    assert.ok(Math.abs(log10Mean - Math.log10(means[g]!)) < 1e-9, gene);
  }
  assert.equal(plotted.size, expected);
  assert.equal([...plotted.values()].filter((p) => p.selected === "selected").length, 300);
  await checkPng(join(dir, "hvg/hvg-mean-variance.png"), svgs.get("hvg-mean-variance")!);
});

test("report: a missing path or one without metrics.csv or checkpoint is one line; an empty metrics.csv is a page that says so", async () => {
  const dir = tempDir("report-errors-");
  assertOneLine(await cli(["report", join(dir, "nowhere")]), /^cellarium: report: .*nowhere does not exist$/);
  const empty = join(dir, "empty");
  await mkdir(empty);
  assertOneLine(
    await cli(["report", empty]),
    new RegExp(`^cellarium: report: ${empty} has no metrics\\.csv .*and no checkpoint`),
  );
  await writeFile(join(dir, "notes.txt"), "x");
  assertOneLine(
    await cli(["report", join(dir, "notes.txt")]),
    /notes\.txt is neither a run directory nor a checkpoint/,
  );

  const run = join(dir, "run/lightning_logs/version_0");
  await mkdir(run, { recursive: true });
  await writeFile(
    join(run, "metrics.csv"),
    "epoch,step,cells,elapsed_s,cells_per_s,train_loss,lr,val_loss\n",
  );
  const lines: string[] = [];
  const result = await reportCommand(join(dir, "run"), { log: (line) => lines.push(line) });
  assert.deepEqual(result.charts, []);
  assert.deepEqual(result.pngs, []);
  const page = await readFile(result.html, "utf8");
  assert.doesNotMatch(page, /<svg/);
  assert.match(page, /<li>Nothing to plot\.<\/li>/);
  assert.deepEqual(lines, [
    `wrote ${result.html} (0 plot(s))`,
    "  metrics.csv has a header and no rows: no training curves to plot.",
    "  Nothing to plot.",
  ]);
});

test("fit writes its report into the run directory unless --no_report or CELLARIUM_REPORT=0", async () => {
  const dir = tempDir("report-auto-");
  const config = await exampleConfig("onepass_train_config.yaml", dir);
  const fit = async (options: { env?: NodeJS.ProcessEnv; report?: boolean }) => {
    const lines: string[] = [];
    await runModelCommand(modelByCommand("onepass_mean_var_std")!, "fit", {
      configs: [config],
      overrides: [["trainer.enable_progress_bar", false]],
      log: (line) => lines.push(line),
      ...options,
    });
    return lines;
  };
  // the suite runs with CELLARIUM_REPORT=0 (scripts/test.mjs): the default is without it
  const { CELLARIUM_REPORT: _, ...plain } = process.env;
  const logged = await fit({ env: plain });
  const version = join(dir, "onepass/lightning_logs/version_0");
  assert.ok(
    logged.some((line) => line.startsWith(`wrote ${version}/report.html`)),
    logged.join("\n"),
  );
  assert.ok((await readdir(version)).includes("report.html"));
  await fit({ env: plain, report: false });
  await fit({ env: { ...plain, CELLARIUM_REPORT: "0" } });
  for (const v of ["version_1", "version_2"]) {
    assert.ok(!(await readdir(join(dir, "onepass/lightning_logs", v))).includes("report.html"), v);
  }
  // the command line's flag, with the report otherwise on
  const saved = process.env.CELLARIUM_REPORT;
  delete process.env.CELLARIUM_REPORT;
  const flagged = await cli(["onepass_mean_var_std", "fit", "--config", config, "--no_report"]).finally(
    () => {
      if (saved !== undefined) process.env.CELLARIUM_REPORT = saved;
    },
  );
  assert.equal(flagged.code, 0, flagged.stderr);
  assert.ok(!(await readdir(join(dir, "onepass/lightning_logs/version_3"))).includes("report.html"));
});
