// The model-specific plots of a run's report: TDigest's per-gene medians, counted here per bin
// from the checkpoint's own median_g; Geneformer's validation MLM accuracy against step, the values
// of metrics.csv; and the embeddings Geneformer's and ProbabilisticPCA's predict write (obsm
// X_geneformer, X_pca) with the report beside them.

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { loadPipeline } from "../../src/cli/checkpoint-pipeline.js";
import { modelByCommand } from "../../src/cli/registry.js";
import { reportCommand } from "../../src/cli/report.js";
import { runModelCommand } from "../../src/cli/run.js";
import { AnnDataFile } from "../../src/formats/h5ad/reader.js";
import { openZarrAnnData } from "../../src/formats/zarr/reader.js";
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
  const geneformerConfig = await exampleConfig("geneformer_train_config.yaml", dir);
  // Short sequences and splits keep the test fast (the example's 128 tokens cost 4x as much).
  const short: [string, unknown][] = [["model.model.init_args.max_position_embeddings", 32]];
  await runCommand("geneformer", "fit", geneformerConfig, [
    ...short,
    ["trainer.max_epochs", 2],
    ["data.train_size", 800],
    ["data.val_size", 200],
    ["data.batch_size", 100],
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

  // predict to an .h5ad: obsm X_geneformer (hidden_size 32), its report a UMAP coloured by cell type.
  const output = join(dir, "geneformer.h5ad");
  await runModelCommand(modelByCommand("geneformer")!, "predict", {
    // The predict config is given after the training config, as its header says.
    configs: [geneformerConfig, await exampleConfig("geneformer_predict_config.yaml", dir)],
    overrides: [
      ...short,
      ["trainer.enable_progress_bar", false],
      ["trainer.callbacks.0.init_args.output_dir", output],
    ] as never,
    report: true,
    reportColor: "cell_type",
    log: () => {},
  });
  const file = await AnnDataFile.open(output);
  assert.deepEqual(file.obsmKeys(), ["X_geneformer"]);
  const embedding = file.obsm("X_geneformer");
  assert.deepEqual([embedding.nRows, embedding.nCols], [2000, 32]);
  file.close();
  const umap = figureSvgs(await readFile(join(dir, "geneformer_report/report.html"), "utf8")).get(
    "embedding",
  )!;
  assert.match(umap, /UMAP of X_geneformer/);
  const cells = pointLabels(umap);
  assert.equal(cells.length, 2000);
  assert.equal(new Set(cells.map((c) => c.cell_type)).size, 5);
});

test("probabilistic_pca: predict to a .zarr store writes obsm X_pca, its report the first two components; the run's report L_k", async () => {
  const dir = tempDir("report-ppca-");
  await runCommand("onepass_mean_var_std", "fit", await exampleConfig("onepass_train_config.yaml", dir));
  const config = await exampleConfig("ppca_train_config.yaml", dir);
  const small: [string, unknown][] = [["trainer.max_epochs", 1]];
  await runCommand("probabilistic_pca", "fit", config, small);
  const output = join(dir, "ppca.zarr");
  await runModelCommand(modelByCommand("probabilistic_pca")!, "predict", {
    configs: [config],
    overrides: [
      ...small,
      ["trainer.enable_progress_bar", false],
      ["ckpt_path", join(dir, "ppca/checkpoints/ppca.safetensors")],
      ["trainer.callbacks.1.init_args.output_dir", output],
    ] as never,
    report: true,
    log: () => {},
  });
  const store = await openZarrAnnData(output);
  assert.deepEqual(store.obsmKeys, ["X_pca"]);
  const { data, k } = await store.obsmRows("X_pca", 0, store.nObs);
  assert.equal(store.nObs, 2000);
  const svg = figureSvgs(await readFile(join(dir, "ppca_report/report.html"), "utf8")).get("embedding")!;
  const points = pointLabels(svg);
  assert.equal(points.length, 2000);
  // Vega's labels carry 12 significant digits of the float32 values.
  points.forEach((p, i) => {
    for (const [j, axis] of ["X_pca 1", "X_pca 2"].entries()) {
      const value = data[i * k + j]!;
      assert.ok(
        Math.abs(Number(p[axis]!.replace("\u2212", "-")) - value) <= 1e-9 * Math.max(1, Math.abs(value)),
      );
    }
  });
  // The default colour: the input's first categorical obs column.
  assert.equal(new Set(points.map((p) => p.cell_type)).size, 5);

  // The run's report: L_k as the variance per component, cumulated over W_variance + sigma_variance.
  const run = await reportCommand(join(dir, "ppca"), { png: false, log: () => {} });
  const runSvgs = figureSvgs(await readFile(run.html, "utf8"));
  const { model } = await loadPipeline(join(dir, "ppca/checkpoints/ppca.safetensors"));
  const L_k = Array.from((model.attribute!("L_k") as Tensor).data);
  const total = (model.attribute!("W_variance") as number) + (model.attribute!("sigma_variance") as number);
  const bars = pointLabels(runSvgs.get("pca-explained-variance")!);
  assert.equal(bars.length, L_k.length);
  let sum = 0;
  pointLabels(runSvgs.get("pca-cumulative-ratio")!).forEach((p, i) => {
    assert.ok(Math.abs(Number(bars[i]!["explained variance"]) - L_k[i]!) <= 1e-9 * L_k[i]!);
    sum += L_k[i]!;
    assert.ok(Math.abs(Number(p["cumulative ratio"]) - sum / total) < 1e-9);
  });
});
