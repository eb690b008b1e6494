// `predict --ckpt_path run.ckpt` with a cellarium-ml Lightning checkpoint (written by
// tests/helpers/lightning_ckpt.py over the demo data's genes): the written coordinates are numpy's
// (x - x_mean_g) V_kg^T.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { modelByCommand } from "../../src/cli/registry.js";
import { runModelCommand } from "../../src/cli/run.js";
import { tempDir } from "../helpers/temp.js";

const root = new URL("../..", import.meta.url).pathname;
const demo = join(root, "examples/data/demo_0.h5ad");

test("incremental_pca predict --ckpt_path upstream.ckpt writes numpy's projection", async () => {
  const dir = tempDir("cellarium-ckpt-predict-");
  const helper = join(root, "tests/helpers/lightning_ckpt.py");
  // python3-torch missing is a failure here, not a skip.
  const made = spawnSync("/usr/bin/python3", [helper, dir, demo], { encoding: "utf8", maxBuffer: 2 ** 28 });
  assert.equal(made.status, 0, made.stderr);
  const ref = JSON.parse(made.stdout) as { demo: { obs_names: string[]; z_nk: number[] } };
  const config = join(dir, "predict.yaml");
  await writeFile(
    config,
    `seed_everything: 0
trainer:
  default_root_dir: ${dir}
  enable_progress_bar: false
  callbacks:
    - class_path: cellarium.ml.callbacks.PredictionWriter
      init_args: {output_dir: ${dir}/predictions}
model:
  model:
    class_path: cellarium.ml.models.IncrementalPCA
    init_args: {n_components: 3, perform_mean_correction: false}
data:
  dadc:
    class_path: cellarium.ml.data.DistributedAnnDataCollection
    init_args: {filenames: ${demo}, shard_size: 1000}
  batch_keys:
    x_ng: {attr: X, convert_fn: cellarium.ml.utilities.data.to_torch_sparse_csr}
    var_names_g: {attr: var_names}
    obs_names_n: {attr: obs_names}
  batch_size: 250
ckpt_path: ${dir}/demo-ipca.ckpt
`,
  );
  await runModelCommand(modelByCommand("incremental_pca")!, "predict", {
    configs: [config],
    overrides: [],
    log: () => {},
  });
  const lines = gunzipSync(await readFile(join(dir, "predictions/predictions.csv.gz")))
    .toString("utf8")
    .trimEnd()
    .split("\n");
  assert.equal(lines[0], "obs_names_n,PC1,PC2,PC3");
  assert.equal(lines.length - 1, ref.demo.obs_names.length);
  lines.slice(1).forEach((line, i) => {
    const [name, ...values] = line.split(",");
    assert.equal(name, ref.demo.obs_names[i]);
    values.forEach((v, j) => {
      const expected = ref.demo.z_nk[i * 3 + j]!;
      assert.ok(
        Math.abs(Number(v) - expected) <= 1e-3 * Math.max(1, Math.abs(expected)),
        `cell ${i} PC${j + 1}: ${v} vs ${expected}`,
      );
    });
  });
});
