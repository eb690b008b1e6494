// cellarium-ml users' own configs, unchanged but for their paths and shard sizes: configs written
// here in the layout of upstream's examples/cli_workflow (LightningCLI --print_config output: the
// whole Trainer signature, DDPStrategy with every init arg, nulls everywhere) and the dict configs
// of upstream's tests/test_cli.py (every number and boolean a string, passed to main(dict)).
// The working directory is a temporary one, as the configs without default_root_dir write there.

import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { main } from "../../src/cli/main.js";
import { dumpConfig, parseConfigYaml } from "../../src/cli/yaml.js";
import { cliStdout } from "../helpers/cli-capture.js";
import { runPython } from "../helpers/python.js";
import { tempDir } from "../helpers/temp.js";

const root = new URL("../..", import.meta.url).pathname;
const demo = join(root, "examples/data/demo_{0..1}.h5ad");
const work = tempDir("upstream-configs-");
process.chdir(work);

/** The trainer block LightningCLI's --print_config writes (Lightning 2.5), with `set` changed. */
function lightningTrainer(set: Record<string, string>): string {
  const trainer: Record<string, string> = {
    accelerator: "auto",
    strategy: `
    class_path: lightning.pytorch.strategies.DDPStrategy
    init_args:
      accelerator: null
      parallel_devices: null
      cluster_environment: null
      checkpoint_io: null
      precision_plugin: null
      ddp_comm_state: null
      ddp_comm_hook: null
      ddp_comm_wrapper: null
      model_averaging_period: null
      process_group_backend: null
      timeout: 0:30:00
      start_method: popen
      output_device: null
      dim: 0
      broadcast_buffers: false
      init_sync: true
      process_group: null
      bucket_cap_mb: null
      find_unused_parameters: false
      check_reduction: false
      gradient_as_bucket_view: false
      static_graph: false
      delay_all_reduce_named_params: null
      param_to_hook_all_reduce: null
      mixed_precision: null
      device_mesh: null
      skip_all_reduce_unused_params: false
    dict_kwargs:
      broadcast_buffers: false`,
    devices: "2",
    num_nodes: "1",
    precision: "null",
    logger: "null",
    callbacks: "null",
    fast_dev_run: "false",
    max_epochs: "1",
    min_epochs: "null",
    max_steps: "-1",
    min_steps: "null",
    max_time: "null",
    limit_train_batches: "null",
    limit_val_batches: "null",
    limit_test_batches: "null",
    limit_predict_batches: "null",
    overfit_batches: "0.0",
    val_check_interval: "null",
    check_val_every_n_epoch: "1",
    num_sanity_val_steps: "null",
    log_every_n_steps: "null",
    enable_checkpointing: "null",
    enable_progress_bar: "null",
    enable_model_summary: "null",
    accumulate_grad_batches: "1",
    gradient_clip_val: "null",
    gradient_clip_algorithm: "null",
    deterministic: "null",
    benchmark: "null",
    inference_mode: "true",
    use_distributed_sampler: "true",
    profiler: "null",
    detect_anomaly: "false",
    barebones: "false",
    plugins: "null",
    sync_batchnorm: "false",
    reload_dataloaders_every_n_epochs: "0",
    default_root_dir: "null",
    model_registry: "null",
    ...set,
  };
  return `trainer:\n${Object.entries(trainer)
    .map(([key, value]) => `  ${key}: ${value}`)
    .join("\n")}`;
}

function dataBlock(batchKeys: string, batchSize: number, obsColumns: string): string {
  return `data:
  dadc:
    class_path: cellarium.ml.data.DistributedAnnDataCollection
    init_args:
      filenames: ${demo}
      limits: null
      shard_size: 1000
      last_shard_size: null
      max_cache_size: 2
      cache_size_strictly_enforced: true
      label: null
      keys: null
      index_unique: null
      convert: null
      indices_strict: true
      obs_columns_to_validate:
${obsColumns}
  batch_keys:
${batchKeys}
  batch_size: ${batchSize}
  iteration_strategy: cache_efficient
  shuffle: false
  shuffle_seed: 0
  drop_last_indices: false
  drop_incomplete_batch: false
  train_size: null
  val_size: null
  pred_size: null
  worker_seed: null
  test_mode: false
  num_workers: 2
  prefetch_factor: null
  persistent_workers: false
ckpt_path: null`;
}

const countsKeys = `    x_ng:
      attr: X
      convert_fn: cellarium.ml.utilities.data.to_torch_sparse_csr
    var_names_g:
      attr: var_names
    total_mrna_umis_n:
      attr: obs
      key: total_mrna_umis`;

const moduleTail = `  optim_fn: null
  optim_kwargs: null
  scheduler_fn: null
  scheduler_kwargs: null
  is_initialized: false`;

async function cli(args: string[]): Promise<void> {
  assert.equal(await main(args), 0, `cellarium ${args.join(" ")} failed`);
}

const onepassDir = join(work, "onepass");
const ipcaDir = join(work, "ipca");

test("upstream's onepass, ipca and lr example configs run with only their paths changed", async () => {
  const onepass = join(work, "onepass_train_config.yaml");
  await writeFile(
    onepass,
    `# lightning.pytorch==2.5.2
seed_everything: true
${lightningTrainer({ default_root_dir: onepassDir })}
model:
  transforms:
    - cellarium.ml.transforms.Densify
    - class_path: cellarium.ml.transforms.NormalizeTotal
      init_args:
        target_count: 10_000
    - cellarium.ml.transforms.Log1p
  model:
    class_path: cellarium.ml.models.OnePassMeanVarStd
    init_args:
      algorithm: shifted_data
      output_path: ${onepassDir}/onepass.csv
${moduleTail}
${dataBlock(countsKeys, 100, "        - total_mrna_umis")}
`,
  );
  await cli(["onepass_mean_var_std", "fit", "--config", onepass]);
  const csv = (await readFile(join(onepassDir, "onepass.csv"), "utf8")).trim().split("\n").slice(1);
  const ours = csv.map((line) => line.split(",").slice(1).map(Number));
  // numpy over anndata: the same normalization, population variance.
  const reference = runPython(
    `
import json, sys, anndata, numpy as np
a = anndata.concat([anndata.read_h5ad(p) for p in sys.argv[1:]])
x = a.X.toarray().astype(np.float64)
x = np.log1p(1e4 * x / (a.obs["total_mrna_umis"].to_numpy()[:, None] + 1e-6))
print(json.dumps([x.mean(0).tolist(), x.var(0).tolist()]))
`,
    null,
    [0, 1].map((i) => join(root, `examples/data/demo_${i}.h5ad`)),
  ) as [number[], number[]];
  assert.equal(ours.length, reference[0].length);
  ours.forEach(([mean, variance], g) => {
    assert.ok(
      Math.abs(mean! - reference[0][g]!) < 1e-5 * (1 + Math.abs(reference[0][g]!)),
      `mean of gene ${g}`,
    );
    assert.ok(Math.abs(variance! - reference[1][g]!) < 1e-4 * (1 + reference[1][g]!), `var of gene ${g}`);
  });

  const ipca = join(work, "ipca_train_config.yaml");
  await writeFile(
    ipca,
    `seed_everything: true
${lightningTrainer({ default_root_dir: ipcaDir })}
model:
  transforms:
    - cellarium.ml.transforms.Densify
    - class_path: cellarium.ml.transforms.NormalizeTotal
      init_args:
        target_count: 10_000
    - cellarium.ml.transforms.Log1p
    - class_path: cellarium.ml.transforms.ZScore
      init_args:
        !FileMultiLoader
        file_path: ${onepassDir}/onepass.csv
        loader_fn: pandas.read_csv
        fields:
          mean_g:
            attr: mean_g.values
            convert_fn: torch.FloatTensor
          std_g:
            attr: std_g.values
            convert_fn: torch.FloatTensor
          var_names_g:
            attr: var_names_g
            convert_fn: pandas.Series.to_numpy
  model:
    class_path: cellarium.ml.models.IncrementalPCA
    init_args:
      n_components: 10
      svd_lowrank_niter: 2
      perform_mean_correction: true
${moduleTail}
${dataBlock(countsKeys, 100, "        - total_mrna_umis")}
`,
  );
  // Read-ahead threads cost start-up time under the test runner (each compiles the TypeScript
  // sources); one override, as a user passes it, keeps the last two runs short.
  await cli(["incremental_pca", "fit", "--config", ipca, "--data.num_workers", "0"]);
  // One epoch by upstream's default for IncrementalPCA: 2 replicas x 10 batches of 100 cells.
  const ipcaCkpt = join(ipcaDir, "lightning_logs/version_0/checkpoints/epoch=0-step=10.safetensors");
  assert.ok(existsSync(ipcaCkpt), readdirSync(join(ipcaDir, "lightning_logs/version_0/checkpoints")).join());

  const lrDir = join(work, "lr");
  const lr = join(work, "lr_train_config.yaml");
  await writeFile(
    lr,
    `seed_everything: true
${lightningTrainer({
  strategy: "auto",
  callbacks: `
  - class_path: lightning.pytorch.callbacks.ModelCheckpoint
    init_args:
      every_n_train_steps: 1
      save_top_k: -1`,
  max_epochs: "2",
  log_every_n_steps: "1",
  default_root_dir: lrDir,
})}
model:
  transforms:
    - cellarium.ml.transforms.Densify
    - !CheckpointLoader
      file_path: ${ipcaCkpt}
      attr: null
      convert_fn: null
  model:
    class_path: cellarium.ml.models.LogisticRegression
    init_args:
      W_prior_scale: 1.0
      W_init_scale: 1.0
      seed: 0
      log_metrics: true
  optim_fn: torch.optim.Adam
  optim_kwargs:
    lr: 0.1
  scheduler_fn: null
  scheduler_kwargs: null
  is_initialized: false
${dataBlock(
  `${countsKeys}
    y_n:
      attr: obs
      key: cell_type
      convert_fn: cellarium.ml.utilities.data.categories_to_codes
    y_categories:
      attr: obs
      key: cell_type
      convert_fn: cellarium.ml.utilities.data.get_categories`,
  250,
  "        - total_mrna_umis\n        - cell_type",
)}
`,
  );
  await cli(["logistic_regression", "fit", "--config", lr, "--data.num_workers", "0"]);
  // 2 epochs of 2,000 cells in batches of 250 on 2 replicas: 4 steps each, a checkpoint per step.
  const lrCkpts = readdirSync(join(lrDir, "lightning_logs/version_0/checkpoints")).sort();
  assert.deepEqual(
    lrCkpts,
    [1, 2, 3, 4, 5, 6, 7, 8].map((s) => `epoch=${s <= 4 ? 0 : 1}-step=${s}.safetensors`).sort(),
  );
});

/** A test_cli.py dict config: every number and boolean a string, as upstream's tests write them. */
function dictData(batchKeys: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    dadc: {
      class_path: "cellarium.ml.data.DistributedAnnDataCollection",
      init_args: {
        filenames: demo,
        shard_size: "1000",
        max_cache_size: "2",
        obs_columns_to_validate: [],
      },
    },
    batch_keys: {
      x_ng: { attr: "X", convert_fn: "cellarium.ml.utilities.data.densify" },
      var_names_g: { attr: "var_names" },
      ...batchKeys,
    },
    batch_size: "100",
    num_workers: "0",
    ...extra,
  };
}

const normalizeLogDict = [
  { class_path: "cellarium.ml.transforms.NormalizeTotal", init_args: { target_count: "10_000" } },
  "cellarium.ml.transforms.Log1p",
];
const totals = { total_mrna_umis_n: { attr: "obs", key: "total_mrna_umis" } };

function onlyRun(dir: string): string {
  const runs = readdirSync(join(dir, "lightning_logs"));
  assert.equal(runs.length, 1, runs.join());
  return join(dir, "lightning_logs", runs[0]!);
}

test("upstream's test_cli dict configs run through main(dict), strings coerced, upstream's default epochs", async () => {
  // IncrementalPCA without max_epochs: one epoch (upstream's default), not Lightning's 1,000.
  const ipca = tempDir("dict-ipca-");
  process.chdir(ipca);
  const ipcaModel = {
    transforms: normalizeLogDict,
    model: { class_path: "cellarium.ml.models.IncrementalPCA", init_args: { n_components: "5" } },
  };
  assert.equal(
    await main({
      model_name: "incremental_pca",
      subcommand: "fit",
      fit: { model: ipcaModel, data: dictData(totals), trainer: { accelerator: "cpu", devices: "1" } },
    }),
    0,
  );
  const checkpoints = readdirSync(join(onlyRun(ipca), "checkpoints"));
  assert.deepEqual(checkpoints, ["epoch=0-step=20.safetensors"]);
  assert.equal(
    await main({
      model_name: "incremental_pca",
      subcommand: "predict",
      predict: {
        model: ipcaModel,
        data: dictData({ ...totals, obs_names_n: { attr: "obs_names" } }),
        trainer: {
          accelerator: "cpu",
          devices: "1",
          callbacks: {
            class_path: "cellarium.ml.callbacks.PredictionWriter",
            init_args: { output_dir: "./output" },
          },
        },
        ckpt_path: join(onlyRun(ipca), "checkpoints", checkpoints[0]!),
        return_predictions: "false",
      },
    }),
    0,
  );
  assert.ok(existsSync(join(ipca, "output")), "predict writes into ./output of the working directory");
  const predicted = await readFile(join(ipca, "output", readdirSync(join(ipca, "output"))[0]!));

  // ckpt_path alone (upstream's issue #260): the checkpoint holds the model and its transforms.
  assert.equal(
    await main({
      model_name: "incremental_pca",
      subcommand: "predict",
      predict: {
        data: dictData({ ...totals, obs_names_n: { attr: "obs_names" } }),
        trainer: {
          callbacks: {
            class_path: "cellarium.ml.callbacks.PredictionWriter",
            init_args: { output_dir: "./output-from-ckpt" },
          },
        },
        ckpt_path: join(onlyRun(ipca), "checkpoints", checkpoints[0]!),
      },
    }),
    0,
  );
  const fromCheckpoint = join(ipca, "output-from-ckpt");
  assert.deepEqual(await readFile(join(fromCheckpoint, readdirSync(fromCheckpoint)[0]!)), predicted);
  // ... and resumes a fit with nothing else: one more epoch from where it stopped.
  assert.equal(
    await main([
      "incremental_pca",
      "fit",
      "--ckpt_path",
      join(onlyRun(ipca), "checkpoints", checkpoints[0]!),
      "--trainer.max_epochs",
      "2",
    ]),
    0,
  );
  assert.deepEqual(readdirSync(join(ipca, "lightning_logs/version_1/checkpoints")), [
    "epoch=1-step=40.safetensors",
  ]);

  // LogisticRegression: val_size "0.1", max_steps "4", val_check_interval "2": val_loss at steps 2 and 4.
  const lr = tempDir("dict-lr-");
  process.chdir(lr);
  assert.equal(
    await main({
      model_name: "logistic_regression",
      subcommand: "fit",
      fit: {
        model: {
          model: {
            class_path: "cellarium.ml.models.LogisticRegression",
            init_args: { W_init_scale: "0.01" },
          },
          optim_fn: "torch.optim.Adam",
          optim_kwargs: { lr: 0.01 },
        },
        data: dictData(
          {
            y_n: {
              attr: "obs",
              key: "cell_type",
              convert_fn: "cellarium.ml.utilities.data.categories_to_codes",
            },
            y_categories: {
              attr: "obs",
              key: "cell_type",
              convert_fn: "cellarium.ml.utilities.data.get_categories",
            },
          },
          { val_size: "0.1", batch_size: "50" },
        ),
        trainer: { accelerator: "cpu", devices: "1", max_steps: "4", val_check_interval: "2" },
      },
    }),
    0,
  );
  const metrics = (await readFile(join(onlyRun(lr), "metrics.csv"), "utf8")).trim().split("\n");
  const header = metrics[0]!.split(",");
  const rows = metrics
    .slice(1)
    .map((line) => Object.fromEntries(line.split(",").map((v, i) => [header[i], v])));
  const validations = rows.filter((row) => row.val_loss !== "");
  assert.deepEqual(
    validations.map((row) => row.step),
    ["2", "4"],
  );
  for (const row of validations) assert.ok(Number.isFinite(Number(row.val_loss)), row.val_loss);

  // Geneformer, ProbabilisticPCA and TDigest with their test_cli settings.
  const other = tempDir("dict-other-");
  process.chdir(other);
  const geneformer = {
    model: {
      class_path: "cellarium.ml.models.Geneformer",
      init_args: {
        hidden_size: "2",
        num_hidden_layers: "1",
        num_attention_heads: "1",
        intermediate_size: "4",
        max_position_embeddings: "2",
      },
    },
    optim_fn: "torch.optim.Adam",
  };
  const cases: Record<string, unknown>[] = [
    {
      model_name: "geneformer",
      subcommand: "fit",
      fit: {
        model: geneformer,
        data: dictData({}, { batch_size: "5" }),
        trainer: { devices: "1", max_steps: "1" },
      },
    },
    {
      model_name: "probabilistic_pca",
      subcommand: "fit",
      fit: {
        model: {
          model: {
            class_path: "cellarium.ml.models.ProbabilisticPCA",
            init_args: { n_components: "2", ppca_flavor: "marginalized" },
          },
          optim_fn: "torch.optim.Adam",
        },
        data: dictData({}, { batch_size: "50", shuffle: "true" }),
        trainer: { accelerator: "cpu", devices: "1", max_steps: "4" },
      },
    },
    {
      model_name: "tdigest",
      subcommand: "fit",
      fit: { model: { model: "cellarium.ml.models.TDigest" }, data: dictData({}), trainer: { devices: "1" } },
    },
  ];
  for (const args of cases) assert.equal(await main(args as never), 0, String(args.model_name));
  const steps = readdirSync(join(other, "lightning_logs"))
    .sort()
    .map((run) => readdirSync(join(other, "lightning_logs", run, "checkpoints"))[0]);
  // geneformer 1 step, probabilistic_pca 4 steps, tdigest one epoch of 20 batches.
  assert.deepEqual(steps, [
    "epoch=0-step=1.safetensors",
    "epoch=0-step=4.safetensors",
    "epoch=0-step=20.safetensors",
  ]);

  // A CSVLogger places the run directory: save_dir/name/version.
  const logs = tempDir("csv-logger-");
  const logger = {
    class_path: "lightning.pytorch.loggers.CSVLogger",
    init_args: { save_dir: logs, name: "tdigest", version: "first" },
  };
  assert.equal(
    await main({
      model_name: "tdigest",
      subcommand: "fit",
      fit: { model: { model: "cellarium.ml.models.TDigest" }, data: dictData({}), trainer: { logger } },
    }),
    0,
  );
  assert.deepEqual(readdirSync(join(logs, "tdigest/first")).sort(), ["checkpoints", "metrics.csv"]);
  process.chdir(work);
});

test("a model upstream has and cellarium-ts does not yet is named as such", async () => {
  for (const args of [
    ["contrastive_mlp", "fit", "--config", "x.yaml"],
    ["socam", "fit"],
  ]) {
    const lines: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string) => lines.push(String(chunk)) > 0) as typeof process.stderr.write;
    try {
      assert.equal(await main(args), 2);
    } finally {
      process.stderr.write = write;
    }
    assert.match(lines.join(""), /is not available in cellarium-ts yet/);
  }
});

test("--print_config without --config prints a complete default config that runs once its blanks are filled", async () => {
  const template = parseConfigYaml(cliStdout(["incremental_pca", "fit", "--print_config"]), "template");
  const trainer = template.trainer as Record<string, unknown>;
  assert.equal(trainer.max_epochs, 1, "upstream's default for IncrementalPCA");
  assert.equal(trainer.val_check_interval, null);
  const model = (template.model as Record<string, Record<string, Record<string, unknown>>>).model!;
  assert.equal(model.class_path, "cellarium.ml.models.IncrementalPCA");
  assert.equal(model.init_args!.n_components, null, "required: left for the user");
  assert.equal(model.init_args!.svd_lowrank_niter, 2);
  assert.ok(!("var_names_g" in model.init_args!), "derived from the data, as upstream's linked arguments");

  const dir = tempDir("template-");
  model.init_args!.n_components = 3;
  const data = template.data as Record<string, Record<string, Record<string, unknown>>>;
  data.dadc!.init_args!.filenames = demo;
  data.dadc!.init_args!.max_cache_size = 2;
  (template.data as Record<string, unknown>).batch_size = 500;
  trainer.default_root_dir = dir;
  const path = join(dir, "config.yaml");
  await writeFile(path, dumpConfig(template));
  await cli(["incremental_pca", "fit", "--config", path]);
  assert.deepEqual(readdirSync(join(dir, "lightning_logs/version_0/checkpoints")), [
    "epoch=0-step=4.safetensors",
  ]);

  const help = cliStdout(["incremental_pca", "fit", "--help"]);
  assert.match(help, /n_components \(required\): principal components kept/);
  assert.match(help, /svd_lowrank_niter \(default 2\)/);
  assert.match(help, /trainer\.max_epochs defaults to 1/);
});
