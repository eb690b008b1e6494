#!/usr/bin/env node
// The README's main job: cellarium-ml's workflow on the bundled demo data (2 shards, 2,000 cells x
// 1,000 genes), as far as the models exist, through the same command line a user runs.
import { rm } from "node:fs/promises";
import { main } from "../dist/cli/main.js";

const root = new URL("..", import.meta.url).pathname;
process.chdir(root);
await rm("runs", { recursive: true, force: true });

async function step(title, argv) {
  console.log(`\n== ${title}\n$ cellarium ${argv.join(" ")}`);
  const code = await main(argv);
  if (code !== 0) process.exit(code);
}

await step("1. per-gene mean / variance / std of log1p(normalize_total(x))", [
  "onepass_mean_var_std",
  "fit",
  "--config",
  "examples/cli_workflow/onepass_train_config.yaml",
  "--trainer.enable_progress_bar",
  "false",
]);
await step("2. per-gene medians of the non-zero normalized counts", [
  "tdigest",
  "fit",
  "--config",
  "examples/cli_workflow/tdigest_train_config.yaml",
  "--trainer.enable_progress_bar",
  "false",
]);
await step("3. the medians as a CSV, read from the checkpoint", [
  "inspect",
  "runs/tdigest/lightning_logs/version_0/checkpoints/epoch=0-step=20.safetensors",
  "--attr",
  "model.median_g",
  "--out",
  "runs/tdigest/median_g.csv",
]);
await step("4. a tiny Geneformer on the counts divided by those medians", [
  "geneformer",
  "fit",
  "--config",
  "examples/cli_workflow/geneformer_train_config.yaml",
  "--trainer.enable_progress_bar",
  "false",
]);
await step("5. Geneformer cell embeddings", [
  "geneformer",
  "predict",
  "--config",
  "examples/cli_workflow/geneformer_train_config.yaml",
  "--config",
  "examples/cli_workflow/geneformer_predict_config.yaml",
  "--trainer.enable_progress_bar",
  "false",
]);
console.log(
  "\nResults: runs/onepass/onepass.csv, runs/tdigest/median_g.csv, runs/geneformer/embeddings/predictions.csv.gz and the checkpoints under runs/*/lightning_logs/",
);
