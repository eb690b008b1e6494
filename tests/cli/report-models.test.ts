// The model-specific plots of a run's report: TDigest's per-gene medians, counted here per bin
// from the checkpoint's own median_g; Geneformer's validation MLM accuracy against step, the values
// of metrics.csv.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { loadPipeline } from "../../src/cli/checkpoint-pipeline.js";
import { reportCommand } from "../../src/cli/report.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { exampleConfig, runCommand } from "../helpers/examples.js";
import { figureSvgs, pointLabels } from "../helpers/svg.js";
import { tempDir } from "../helpers/temp.js";

test("report of a TDigest run: a histogram of median_g whose bars count the checkpoint's medians; of a Geneformer run: the MLM accuracy", async () => {
  const dir = tempDir("report-tdigest-");
  await runCommand("tdigest", "fit", await exampleConfig("tdigest_train_config.yaml", dir));
  const result = await reportCommand(join(dir, "tdigest"), { png: false, log: () => {} });
  assert.ok(result.charts.includes("tdigest-medians"), result.charts.join(", "));
  const svg = figureSvgs(await readFile(result.html, "utf8")).get("tdigest-medians")!;

  const { model } = await loadPipeline(join(dir, "tdigest/checkpoints/tdigest.safetensors"));
  const medians = Array.from((model.attribute!("median_g") as Tensor).data).filter(Number.isFinite);
  assert.ok(medians.length > 100);
  const bars = pointLabels(svg).map((p) => {
    const [low, high] = p.median_g!.split(" \u2013 ").map(Number) as [number, number];
    return { low, high, genes: Number(p.genes) };
  });
  assert.ok(bars.length > 5, `${bars.length} bars`);
  const last = Math.max(...bars.map((b) => b.high));
  for (const { low, high, genes } of bars) {
    // Vega's bins are [low, high), the last one closed.
    const inBin = medians.filter((m) => m >= low && (m < high || (high === last && m === high))).length;
    assert.equal(genes, inBin, `bin ${low} - ${high}`);
  }
  assert.equal(
    bars.reduce((sum, b) => sum + b.genes, 0),
    medians.length,
  );

  // Geneformer on the medians (the example's DivideByScale), a validation split: its accuracy column.
  await runCommand("geneformer", "fit", await exampleConfig("geneformer_train_config.yaml", dir), [
    ["trainer.max_epochs", 2],
    ["data.train_size", 1600],
    ["data.val_size", 400],
    ["data.batch_size", 200],
  ]);
  const run = join(dir, "geneformer");
  const report = await reportCommand(run, { png: false, log: () => {} });
  assert.ok(report.charts.includes("metric-val_mlm_accuracy"), report.charts.join(", "));
  const metrics = (await readFile(join(run, "lightning_logs/version_0/metrics.csv"), "utf8"))
    .trim()
    .split("\n");
  const header = metrics[0]!.split(",");
  const rows = metrics
    .slice(1)
    .map((line) => line.split(","))
    .filter((cells) => cells[header.indexOf("val_mlm_accuracy")] !== "")
    .map((cells) => [
      Number(cells[header.indexOf("step")]),
      Number(cells[header.indexOf("val_mlm_accuracy")]),
    ]);
  // A validation pass after each of the 2 epochs (8 steps each), an accuracy in (0, 1].
  assert.deepEqual(
    rows.map(([step]) => step),
    [8, 16],
  );
  for (const [, accuracy] of rows) assert.ok(accuracy! > 0 && accuracy! <= 1, String(accuracy));
  const points = pointLabels(figureSvgs(await readFile(report.html, "utf8")).get("metric-val_mlm_accuracy")!);
  // Vega's labels carry 12 significant digits.
  assert.equal(points.length, rows.length);
  points.forEach((p, i) => {
    assert.equal(Number(p.step), rows[i]![0]);
    assert.ok(Math.abs(Number(p.val_mlm_accuracy) - rows[i]![1]!) <= 1e-11 * rows[i]![1]!);
  });
});
