// Upstream's current transforms in a config of upstream's test_cli.py layout (main(dict), every
// number a string): a fit runs, and its result is a function of seed_everything, whatever the
// read-ahead workers (replicas: tests/transforms/batch-random.test.ts).

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { main } from "../../src/cli/main.js";
import { tempDir } from "../helpers/temp.js";

const root = new URL("../..", import.meta.url).pathname;
const work = tempDir("augmentations-");
process.chdir(work);

const transforms = [
  {
    class_path: "cellarium.ml.transforms.BinomialResample",
    init_args: { p_binom_min: "0.5", p_binom_max: "0.9", p_apply: "0.8" },
  },
  {
    class_path: "cellarium.ml.transforms.Dropout",
    init_args: { p_dropout_min: "0.0", p_dropout_max: "0.2", p_apply: "0.5" },
  },
  { class_path: "cellarium.ml.transforms.Randomize", init_args: { p_apply: "0.3" } },
  { class_path: "cellarium.ml.transforms.Duplicate", init_args: { enabled: "true" } },
  { class_path: "cellarium.ml.transforms.PFlogPF", init_args: { target_count: "10_000" } },
  {
    class_path: "cellarium.ml.transforms.GaussianNoise",
    init_args: { sigma_min: "0.0", sigma_max: "0.5", p_apply: "0.5" },
  },
  "cellarium.ml.transforms.CenterPerCell",
];

/** onepass_mean_var_std fit through `transforms`; returns its CSV. */
async function fit(name: string, seed: string, numWorkers: string): Promise<string> {
  const csv = join(work, `${name}.csv`);
  const code = await main({
    model_name: "onepass_mean_var_std",
    subcommand: "fit",
    fit: {
      seed_everything: seed,
      model: {
        transforms,
        model: {
          class_path: "cellarium.ml.models.OnePassMeanVarStd",
          init_args: { algorithm: "shifted_data", output_path: csv },
        },
      },
      data: {
        dadc: {
          class_path: "cellarium.ml.data.DistributedAnnDataCollection",
          init_args: {
            filenames: join(root, "examples/data/demo_{0..1}.h5ad"),
            shard_size: "1000",
            max_cache_size: "2",
          },
        },
        batch_keys: {
          x_ng: { attr: "X", convert_fn: "cellarium.ml.utilities.data.densify" },
          x_aug: { attr: "X" },
          var_names_g: { attr: "var_names" },
        },
        batch_size: "250",
        num_workers: numWorkers,
      },
      trainer: { accelerator: "cpu", devices: "1", default_root_dir: join(work, name) },
    },
  });
  assert.equal(code, 0, `${name} failed`);
  return readFile(csv, "utf8");
}

test("a config with every new transform fits; its result depends on seed_everything, not on read-ahead or reruns", async () => {
  const first = await fit("a", "3", "0");
  assert.match(first, /^var_names_g,mean_g,var_g,std_g\n/);
  assert.equal(await fit("b", "3", "1"), first, "one read-ahead worker changes nothing");
  assert.notEqual(await fit("c", "4", "0"), first, "another seed draws other numbers");
});
