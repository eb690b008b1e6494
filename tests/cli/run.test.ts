import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { main } from "../../src/cli/main.js";
import { modelByCommand } from "../../src/cli/registry.js";
import { runModelCommand } from "../../src/cli/run.js";
import { ConfigError } from "../../src/errors.js";
import { cliStdout } from "../helpers/cli-capture.js";
import { runPython } from "../helpers/python.js";
import { tempDir } from "../helpers/temp.js";

const root = new URL("../..", import.meta.url).pathname;
const demo = join(root, "examples/data/demo_{0..1}.h5ad");

function config(dir: string, model: string, transforms: string, extra = ""): string {
  return `
seed_everything: 0
trainer:
  max_epochs: 1
  enable_progress_bar: false
  default_root_dir: ${dir}
${extra}
model:
  transforms:
${transforms}
  model: ${model}
data:
  dadc:
    class_path: cellarium.ml.data.DistributedAnnDataCollection
    init_args:
      filenames: ${demo}
      shard_size: 1000
      max_cache_size: 2
  batch_keys:
    x_ng: {attr: X, convert_fn: cellarium.ml.utilities.data.to_torch_sparse_csr}
    var_names_g: {attr: var_names}
    total_mrna_umis_n: {attr: obs, key: total_mrna_umis}
  batch_size: 128
`;
}

const normalizeLog = `    - class_path: cellarium.ml.transforms.NormalizeTotal
      init_args: {target_count: 10_000}
    - cellarium.ml.transforms.Log1p`;

async function run(
  command: string,
  stage: "fit" | "predict",
  configPath: string,
  overrides: [string, unknown][] = [],
) {
  const lines: string[] = [];
  await runModelCommand(modelByCommand(command)!, stage, {
    configs: [configPath],
    overrides: overrides as never,
    log: (line) => lines.push(line),
  });
  return lines;
}

test("onepass fit on the demo data writes the CSV numpy computes, a checkpoint, and resumes exactly", async () => {
  const dir = tempDir("cli-");
  const cfg = join(dir, "onepass.yaml");
  const csv = join(dir, "onepass.csv");
  await writeFile(
    cfg,
    config(
      dir,
      `{class_path: cellarium.ml.models.OnePassMeanVarStd, init_args: {algorithm: shifted_data, output_path: ${csv}}}`,
      normalizeLog,
    ),
  );
  const lines = await run("onepass_mean_var_std", "fit", cfg);
  assert.ok(
    lines.some((l) => l.startsWith("fit: 2000 cells")),
    lines.join("\n"),
  );
  const text = await readFile(csv, "utf8");
  const reference = (await runPython(
    `
import json, sys, anndata, numpy as np
a = anndata.concat([anndata.read_h5ad(p) for p in json.load(sys.stdin)["files"]])
x = a.X.toarray().astype(np.float64); t = a.obs.total_mrna_umis.values.astype(np.float64)
y = np.log1p(1e4 * x / (t[:, None] + 1e-6))
print(json.dumps({"mean": y.mean(0).tolist(), "var": y.var(0).tolist()}))
`,
    { files: [0, 1].map((i) => join(root, `examples/data/demo_${i}.h5ad`)) },
  )) as { mean: number[]; var: number[] };
  const rows = text
    .trim()
    .split("\n")
    .slice(1)
    .map((line) => line.split(","));
  assert.equal(rows.length, 1000);
  rows.forEach((row, g) => {
    // Our transforms work in float32, as upstream's; the sums are float64.
    assert.ok(Math.abs(Number(row[1]) - reference.mean[g]!) < 1e-6, `mean of gene ${g}`);
    assert.ok(Math.abs(Number(row[2]) - reference.var[g]!) < 1e-6, `var of gene ${g}`);
  });

  // Killed after 5 steps (a checkpoint every 5), then resumed: the same CSV to the last digit.
  const partialDir = join(dir, "partial");
  const checkpointEvery =
    "  callbacks:\n    - class_path: lightning.pytorch.callbacks.ModelCheckpoint\n      init_args: {every_n_train_steps: 5, save_top_k: -1}";
  await writeFile(
    cfg,
    config(
      partialDir,
      `{class_path: cellarium.ml.models.OnePassMeanVarStd, init_args: {algorithm: shifted_data, output_path: ${csv}}}`,
      normalizeLog,
      checkpointEvery,
    ),
  );
  await run("onepass_mean_var_std", "fit", cfg, [["trainer.max_steps", 5]]);
  const checkpoint = join(partialDir, "lightning_logs/version_0/checkpoints/epoch=0-step=5.safetensors");
  await run("onepass_mean_var_std", "fit", cfg, [["ckpt_path", checkpoint]]);
  assert.equal(await readFile(csv, "utf8"), text);
});

test("!FileMultiLoader feeds ZScore from the onepass CSV and !CheckpointLoader reads model attributes", async () => {
  const dir = tempDir("cli-");
  const cfg = join(dir, "onepass.yaml");
  const csv = join(dir, "stats.csv");
  await writeFile(
    cfg,
    config(dir, `{class_path: OnePassMeanVarStd, init_args: {output_path: ${csv}}}`, normalizeLog),
  );
  await run("onepass_mean_var_std", "fit", cfg);
  const checkpoint = join(dir, "lightning_logs/version_0/checkpoints/epoch=0-step=16.safetensors");

  const zscored = join(dir, "zscored.csv");
  const zscoreFromCsv = `${normalizeLog}
    - class_path: cellarium.ml.transforms.ZScore
      init_args:
        !FileMultiLoader
        file_path: ${csv}
        loader_fn: pandas.read_csv
        fields:
          mean_g: {attr: mean_g.values, convert_fn: torch.FloatTensor}
          std_g: {attr: std_g.values, convert_fn: torch.FloatTensor}
          var_names_g: {attr: var_names_g, convert_fn: pandas.Series.to_numpy}`;
  await writeFile(
    cfg,
    config(
      join(dir, "z"),
      `{class_path: OnePassMeanVarStd, init_args: {output_path: ${zscored}}}`,
      zscoreFromCsv,
    ),
  );
  await run("onepass_mean_var_std", "fit", cfg);
  const z = (await readFile(zscored, "utf8"))
    .trim()
    .split("\n")
    .slice(1)
    .map((l) => l.split(",").map(Number));
  for (const [, mean, , std] of z) {
    if (std === 0) continue; // a gene that is zero everywhere stays zero
    assert.ok(Math.abs(mean!) < 1e-5 && Math.abs(std! - 1) < 1e-4, `z-scored mean ${mean}, std ${std}`);
  }

  const fromCheckpoint = `${normalizeLog}
    - class_path: cellarium.ml.transforms.ZScore
      init_args:
        mean_g: !CheckpointLoader {file_path: ${checkpoint}, attr: model.mean_g, convert_fn: null}
        std_g: !CheckpointLoader {file_path: ${checkpoint}, attr: model.std_g, convert_fn: null}
        var_names_g: !CheckpointLoader {file_path: ${checkpoint}, attr: model.var_names_g, convert_fn: null}`;
  const zscored2 = join(dir, "zscored2.csv");
  await writeFile(
    cfg,
    config(
      join(dir, "z2"),
      `{class_path: OnePassMeanVarStd, init_args: {output_path: ${zscored2}}}`,
      fromCheckpoint,
    ),
  );
  await run("onepass_mean_var_std", "fit", cfg);
  assert.equal(await readFile(zscored2, "utf8"), await readFile(zscored, "utf8"));
});

test("tdigest fit, then inspect --attr writes median_g per gene", async () => {
  const dir = tempDir("cli-");
  const cfg = join(dir, "tdigest.yaml");
  await writeFile(
    cfg,
    config(
      dir,
      "cellarium.ml.models.TDigest",
      "    - {class_path: cellarium.ml.transforms.NormalizeTotal, init_args: {target_count: 10_000}}",
    ),
  );
  await run("tdigest", "fit", cfg);
  const checkpoint = join(dir, "lightning_logs/version_0/checkpoints/epoch=0-step=16.safetensors");
  const out = join(dir, "median.csv");
  const warn = console.warn;
  console.warn = () => {};
  try {
    assert.equal(await main(["inspect", checkpoint, "--attr", "model.median_g", "--out", out]), 0);
  } finally {
    console.warn = warn;
  }
  const lines = (await readFile(out, "utf8")).trim().split("\n");
  assert.equal(lines[0], "var_names_g,median_g");
  assert.equal(lines.length, 1001);
  assert.match(lines[1]!, /^ENSG00000000000,\d+(\.\d+)?$/);
});

test("config errors name the key and the value", async () => {
  const dir = tempDir("cli-");
  const cfg = join(dir, "c.yaml");
  const onepass = "{class_path: OnePassMeanVarStd, init_args: {output_path: null}}";
  const cases: [string, [string, unknown][], RegExp][] = [
    [
      config(dir, onepass, normalizeLog),
      [["trainer.max_epoch", 1]],
      /unknown config key trainer\.max_epoch; valid keys of trainer:/,
    ],
    [
      config(dir, onepass, normalizeLog),
      [["trainer.precision", 16]],
      /trainer\.precision: 16 cannot be honoured by cellarium-ts \(models compute in float32/,
    ],
    [
      config(dir, onepass, normalizeLog),
      [["trainer.devices", 0]],
      /trainer\.devices: expected a replica count >= 1, "auto" or -1, got 0/,
    ],
    [
      config(dir, onepass, normalizeLog),
      [["trainer.strategy", "fsdp"]],
      /trainer\.strategy: "fsdp" is not supported \(auto, ddp or DDPStrategy are\)/,
    ],
    [
      config(dir, onepass, normalizeLog),
      [["model.model.init_args.algorithm", "fast"]],
      /model\.model\.init_args\.algorithm: expected one of naive, shifted_data, got "fast"/,
    ],
    [
      config(dir, onepass, normalizeLog),
      [["model.model.init_args.n_genes", 3]],
      /unknown config key model\.model\.init_args\.n_genes; valid keys of model\.model\.init_args: var_names_g, algorithm, output_path/,
    ],
    [
      config(dir, "cellarium.ml.models.TDigest", normalizeLog),
      [],
      /does not match the command onepass_mean_var_std/,
    ],
    [
      config(dir, onepass, "    - cellarium.ml.transforms.Scale"),
      [],
      /model\.transforms\.0: unknown transform class "cellarium\.ml\.transforms\.Scale"/,
    ],
  ];
  for (const [text, overrides, message] of cases) {
    await writeFile(cfg, text);
    await assert.rejects(
      run("onepass_mean_var_std", "fit", cfg, overrides),
      (e: Error) => e instanceof ConfigError && message.test(e.message),
    );
  }
  await assert.rejects(
    run("onepass_mean_var_std", "fit", join(dir, "missing.yaml")),
    /--config .*missing\.yaml: cannot read the file \(ENOENT\)/,
  );
});

test("--print_config shows the merged config with overrides and loader tags", async () => {
  const dir = tempDir("cli-");
  const cfg = join(dir, "c.yaml");
  await writeFile(
    cfg,
    config(
      dir,
      "OnePassMeanVarStd",
      "    - !FileLoader {file_path: x.csv, loader_fn: pandas.read_csv, attr: index}",
    ),
  );
  const chunks: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: string) => chunks.push(chunk)) as never;
  try {
    assert.equal(
      await main([
        "onepass_mean_var_std",
        "fit",
        "--config",
        cfg,
        "--trainer.max_epochs",
        "3",
        "--print_config",
      ]),
      0,
    );
  } finally {
    process.stdout.write = write;
  }
  const text = chunks.join("");
  assert.match(text, /max_epochs: 3/);
  assert.match(text, /!FileLoader/);
});

test("--version prints package.json's version", async () => {
  const { version } = JSON.parse(await readFile(new URL("../../package.json", import.meta.url), "utf8"));
  assert.equal(cliStdout(["--version"]).trim(), version);
});
