// --ckpt_path with a config that computes something else is refused by the first differing key;
// max_epochs -1 and fits that see no cells never write outputs as if they had trained.

import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { assertOneLine, cli } from "../helpers/cli-capture.js";
import { runPython } from "../helpers/python.js";
import { tempDir } from "../helpers/temp.js";

const dir = tempDir("resume-");

/** Two small count shards written by anndata: 48 cells x 6 genes. */
const shards = runPython(
  `
import json, sys
import anndata as ad, numpy as np, pandas as pd, scipy.sparse as sp
paths = []
for k in range(2):
    x = np.fromfunction(lambda i, j: (i * 3 + j + k) % 4, (24, 6)).astype(np.float32)
    path = f"{sys.argv[1]}/part_{k}.h5ad"
    ad.AnnData(X=sp.csr_matrix(x), obs=pd.DataFrame(index=[f"c{k}_{i}" for i in range(24)]),
               var=pd.DataFrame(index=[f"g{j}" for j in range(6)])).write_h5ad(path)
    paths.append(path)
print(json.dumps(paths))
`,
  null,
  [dir],
) as string[];

function config(root: string, output: string): string {
  return `
seed_everything: 3
trainer:
  max_epochs: 1
  enable_progress_bar: false
  default_root_dir: ${root}
model:
  transforms:
    - class_path: cellarium.ml.transforms.NormalizeTotal
      init_args: {target_count: 10000}
    - cellarium.ml.transforms.Log1p
  model:
    class_path: cellarium.ml.models.OnePassMeanVarStd
    init_args: {output_path: ${output}}
data:
  dadc:
    class_path: cellarium.ml.data.DistributedAnnDataCollection
    init_args:
      filenames: ${join(dir, "part_{0..1}.h5ad")}
  batch_keys:
    x_ng: {attr: X}
    var_names_g: {attr: var_names}
  batch_size: 8
  shuffle: true
`;
}

/** A fit of one epoch; its config path and its epoch-end checkpoint. */
async function firstRun(): Promise<{ cfg: string; ckpt: string; root: string }> {
  const root = tempDir("resume-run-");
  const cfg = join(root, "cfg.yaml");
  await writeFile(cfg, config(root, join(root, "first.csv")));
  const result = await cli(["onepass_mean_var_std", "fit", "--config", cfg]);
  assert.equal(result.code, 0, result.stderr);
  const checkpoints = join(root, "lightning_logs/version_0/checkpoints");
  return { cfg, ckpt: join(checkpoints, readdirSync(checkpoints)[0]!), root };
}

/** `fit --config cfg --ckpt_path ckpt` with more arguments. */
function resume(cfg: string, ckpt: string, extra: readonly string[]) {
  return cli(["onepass_mean_var_std", "fit", "--config", cfg, "--ckpt_path", ckpt, ...extra]);
}

test("a resume whose config changes what is computed is refused, naming the first differing key", async () => {
  assert.equal(shards.length, 2);
  const { cfg, ckpt } = await firstRun();
  for (const [override, key] of [
    [["--data.batch_size", "12"], "data.batch_size"],
    [["--data.shuffle", "false"], "data.shuffle"],
    [["--data.shuffle_seed", "5"], "data.shuffle_seed"],
    [["--data.dadc.init_args.filenames", shards[0]!], "data.dadc.init_args.filenames"],
    [["--model.transforms.0.init_args.target_count", "100"], "model.transforms.0.init_args.target_count"],
    [["--model.model.init_args.algorithm", "naive"], "model.model.init_args.algorithm"],
  ] as const) {
    const result = await resume(cfg, ckpt, override);
    assertOneLine(
      result,
      new RegExp(
        `^cellarium: .*\\.safetensors: written with ${key.replaceAll(".", "\\.")} = .*, this run has `,
      ),
    );
  }
});

test("a resume may change outputs, read-ahead, the seed and the epochs, and then continues the run", async () => {
  const { cfg, ckpt, root } = await firstRun();
  const output = join(root, "second.csv");
  const resumed = await resume(cfg, ckpt, [
    "--data.num_workers",
    "1",
    "--seed_everything",
    "11",
    "--trainer.max_epochs",
    "2",
    "--model.model.init_args.output_path",
    output,
  ]);
  assert.equal(resumed.code, 0, resumed.stderr);
  // Two epochs over the same cells give the one-epoch statistics (each cell counted twice).
  const lines = (await readFile(output, "utf8")).trim().split("\n");
  const first = (await readFile(join(root, "first.csv"), "utf8")).trim().split("\n");
  assert.equal(lines.length, 7);
  lines.slice(1).forEach((line, j) => {
    const [gene, mean] = line.split(",");
    const [gene0, mean0] = first[j + 1]!.split(",");
    assert.equal(gene, gene0);
    assert.ok(Math.abs(Number(mean) - Number(mean0)) < 1e-6, `${gene}: ${mean} vs ${mean0}`);
  });
});

test("max_epochs -1 without max_steps, and a fit that sees no cells, write nothing", async () => {
  const root = tempDir("resume-none-");
  const cfg = join(root, "cfg.yaml");
  const output = join(root, "out.csv");
  await writeFile(cfg, config(root, output));
  const endless = await cli(["onepass_mean_var_std", "fit", "--config", cfg, "--trainer.max_epochs", "-1"]);
  assertOneLine(endless, /max_epochs -1 \(no limit\) needs max_steps/);
  for (const override of [
    ["--trainer.max_epochs", "0"],
    ["--trainer.limit_train_batches", "0"],
  ]) {
    await rm(output, { force: true });
    const none = await cli(["onepass_mean_var_std", "fit", "--config", cfg, ...override]);
    assertOneLine(none, /the fit saw no cells .* so it wrote no outputs/);
    assert.equal(existsSync(output), false, `${override.join(" ")}: no CSV`);
  }
  // max_epochs -1 with max_steps trains exactly max_steps batches (6 per epoch here).
  const bounded = await cli([
    "onepass_mean_var_std",
    "fit",
    "--config",
    cfg,
    "--trainer.max_epochs",
    "-1",
    "--trainer.max_steps",
    "9",
  ]);
  assert.equal(bounded.code, 0, bounded.stderr);
  assert.ok(existsSync(output));
});
