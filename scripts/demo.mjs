#!/usr/bin/env node
// The README's main job: cellarium-ml's workflow on the bundled demo data (2 shards, 2,000 cells x
// 1,000 genes), through the same command line a user runs: highly variable genes -> a Filter to
// them -> onepass -> IncrementalPCA -> logistic regression on the PCA embedding (upstream's
// workflow), tdigest -> Geneformer, scVI -> its latents as an .h5ad.
// The runs go to a work directory outside the repository (CELLARIUM_DEMO_DIR, default
// <tmpdir>/cellarium-demo, emptied first), where examples/ is a link to the repository's, so that
// the example configs' relative paths (examples/..., runs/...) work unchanged.
import { mkdir, readFile, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gunzipSync } from "node:zlib";
import { main } from "../dist/cli/main.js";
import { AnnDataFile } from "../dist/formats/h5ad/reader.js";

const root = new URL("..", import.meta.url).pathname;
const work = resolve(process.env.CELLARIUM_DEMO_DIR ?? join(tmpdir(), "cellarium-demo"));
if (`${work}/`.startsWith(`${resolve(root)}/`)) {
  console.error(`CELLARIUM_DEMO_DIR must be outside the repository, got ${work}`);
  process.exit(2);
}
await rm(work, { recursive: true, force: true });
await mkdir(work, { recursive: true });
await symlink(join(root, "examples"), join(work, "examples"));
process.chdir(work);
console.log(`work directory: ${work}`);

async function step(title, argv) {
  console.log(`\n== ${title}\n$ cellarium ${argv.join(" ")}`);
  const code = await main(argv);
  if (code !== 0) process.exit(code);
}

const filter = ["--config", "examples/cli_workflow/hvg_filter_config.yaml"];
await step("0. 300 highly variable genes of the raw counts (scanpy's seurat_v3)", [
  "hvg_seurat_v3",
  "fit",
  "--config",
  "examples/cli_workflow/hvg_seurat_v3_train_config.yaml",
  "--trainer.enable_progress_bar",
  "false",
]);
await step("1. per-gene mean / variance / std of log1p(normalize_total(x)) over those genes", [
  "onepass_mean_var_std",
  "fit",
  "--config",
  "examples/cli_workflow/onepass_train_config.yaml",
  ...filter,
  "--trainer.enable_progress_bar",
  "false",
]);
await step("2. 50 principal components of the z-scored data (ZScore fed by the CSV of step 1)", [
  "incremental_pca",
  "fit",
  "--config",
  "examples/cli_workflow/ipca_train_config.yaml",
  ...filter,
  "--trainer.enable_progress_bar",
  "false",
]);
await step("3. per-gene medians of the non-zero normalized counts", [
  "tdigest",
  "fit",
  "--config",
  "examples/cli_workflow/tdigest_train_config.yaml",
  "--trainer.enable_progress_bar",
  "false",
]);
await step("4. the medians as a CSV, read from the checkpoint", [
  "inspect",
  "runs/tdigest/checkpoints/tdigest.safetensors",
  "--attr",
  "model.median_g",
  "--out",
  "runs/tdigest/median_g.csv",
]);
await step(
  "5. logistic regression of the cell type on the PCA embedding (the IPCA checkpoint as a frozen transform; the first 1,600 cells train, the last 400 are held out)",
  [
    "logistic_regression",
    "fit",
    "--config",
    "examples/cli_workflow/lr_train_config.yaml",
    "--config",
    "examples/cli_workflow/lr_on_ipca_config.yaml",
    ...filter,
    "--trainer.enable_progress_bar",
    "false",
  ],
);
await step("6. logits of every cell from the trained model", [
  "logistic_regression",
  "predict",
  "--config",
  "examples/cli_workflow/lr_train_config.yaml",
  "--config",
  "examples/cli_workflow/lr_on_ipca_config.yaml",
  ...filter,
  "--ckpt_path",
  "runs/lr/checkpoints/lr.safetensors",
  "--trainer.enable_progress_bar",
  "false",
]);

// Held-out accuracy: the argmax of each held-out cell's logits against its annotated type.
const labels = new Map();
for (const path of ["examples/data/demo_0.h5ad", "examples/data/demo_1.h5ad"]) {
  const file = await AnnDataFile.open(path);
  const column = file.obs.column("cell_type");
  for (const [i, name] of file.obsNames().entries()) labels.set(name, column.codes[i]);
  file.close();
}
const rows = gunzipSync(await readFile("runs/lr/predictions/predictions.csv.gz"))
  .toString()
  .trim()
  .split("\n");
const heldOut = rows.slice(1 + 1600);
let correct = 0;
for (const row of heldOut) {
  const [name, ...logits] = row.split(",");
  const scores = logits.map(Number);
  if (scores.indexOf(Math.max(...scores)) === labels.get(name)) correct++;
}
console.log(
  `\nheld-out accuracy: ${((100 * correct) / heldOut.length).toFixed(1)}% of ${heldOut.length} cells`,
);
await step("7. a tiny Geneformer on the counts divided by those medians", [
  "geneformer",
  "fit",
  "--config",
  "examples/cli_workflow/geneformer_train_config.yaml",
  "--trainer.enable_progress_bar",
  "false",
]);
await step("8. Geneformer cell embeddings", [
  "geneformer",
  "predict",
  "--config",
  "examples/cli_workflow/geneformer_train_config.yaml",
  "--config",
  "examples/cli_workflow/geneformer_predict_config.yaml",
  "--trainer.enable_progress_bar",
  "false",
]);
await step("9. scVI on the raw counts, batch and chemistry as upstream's example config injects them", [
  "scvi",
  "fit",
  "--config",
  "examples/scvi/scvi_train_config.yaml",
  "--trainer.enable_progress_bar",
  "false",
]);
await step("10. scVI latents into an AnnData for scanpy (obsm X_scvi, with the cells' obs)", [
  "scvi",
  "predict",
  "--config",
  "examples/scvi/scvi_predict_config.yaml",
  "--trainer.enable_progress_bar",
  "false",
]);
console.log(
  `\nResults in ${work}: runs/hvg/hvg__top300.csv, runs/onepass/onepass.csv, runs/tdigest/median_g.csv, runs/lr/predictions/predictions.csv.gz, runs/geneformer/embeddings/predictions.csv.gz, runs/scvi/latent.h5ad; checkpoints in runs/*/checkpoints/, logs in runs/*/lightning_logs/`,
);
