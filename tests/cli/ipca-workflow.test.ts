// Upstream's onepass -> incremental_pca workflow through the command line, on the demo data, with
// the example configs of examples/cli_workflow/ (their runs/ paths moved to a temporary folder).

import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { loadPipeline } from "../../src/cli/checkpoint-pipeline.js";
import { modelByCommand } from "../../src/cli/registry.js";
import { runModelCommand } from "../../src/cli/run.js";
import type { Tensor } from "../../src/tensor/tensor.js";
import { exampleConfig, runCommand } from "../helpers/examples.js";
import { runPython } from "../helpers/python.js";
import { tempDir } from "../helpers/temp.js";

const root = new URL("../..", import.meta.url).pathname;
// 10 components and batches of 500 keep the test fast (the examples use 50 and 100).
const k = 10;
const fast: [string, unknown][] = [
  ["model.model.init_args.n_components", k],
  ["data.batch_size", 500],
];
// The example config names its checkpoint (ModelCheckpoint dirpath and filename).
const checkpointName = "checkpoints/ipca.safetensors";

const example = exampleConfig;

async function run(
  command: string,
  stage: "fit" | "predict",
  config: string,
  overrides: [string, unknown][] = [],
): Promise<void> {
  await runCommand(command, stage, config, overrides);
}

test("onepass -> incremental_pca fit -> predict writes (x - x_mean_g) V_kg^T; logistic regression on it as a frozen transform", async () => {
  const dir = tempDir("ipca-");
  await run("onepass_mean_var_std", "fit", await example("onepass_train_config.yaml", dir));
  await run("incremental_pca", "fit", await example("ipca_train_config.yaml", dir), fast);
  const checkpoint = join(dir, "ipca", checkpointName);
  await run("incremental_pca", "predict", await example("ipca_predict_config.yaml", dir), [
    ...fast,
    ["ckpt_path", checkpoint],
  ]);

  const model = (await loadPipeline(checkpoint)).model;
  assert.equal(model.attribute!("x_size"), 2000);
  const V_kg = model.attribute!("V_kg") as Tensor;
  const x_mean_g = model.attribute!("x_mean_g") as Tensor;
  const reference = runPython(
    `
import json, sys, anndata, numpy as np
r = json.load(sys.stdin)
a = anndata.concat([anndata.read_h5ad(p) for p in r["files"]])
stats = np.genfromtxt(r["csv"], delimiter=",", names=True, dtype=None, encoding="utf8")
x = a.X.toarray().astype(np.float64); t = a.obs.total_mrna_umis.values.astype(np.float64)
z = (np.log1p(1e4 * x / (t[:, None] + 1e-6)) - stats["mean_g"]) / (stats["std_g"] + 1e-6)
v = np.array(r["V"]).reshape(r["k"], -1)
print(json.dumps({"names": list(a.obs_names), "z": ((z - np.array(r["mean"])) @ v.T).ravel().tolist()}))
`,
    {
      files: [0, 1].map((i) => join(root, `examples/data/demo_${i}.h5ad`)),
      csv: join(dir, "onepass/onepass.csv"),
      V: Array.from(V_kg.data),
      mean: Array.from(x_mean_g.data),
      k,
    },
  ) as { names: string[]; z: number[] };

  const lines = gunzipSync(await readFile(join(dir, "ipca/predictions/predictions.csv.gz")))
    .toString("utf8")
    .trim()
    .split("\n");
  assert.equal(lines[0], ["obs_names_n", ...Array.from({ length: k }, (_, j) => `PC${j + 1}`)].join(","));
  assert.equal(lines.length, 2001);
  lines.slice(1).forEach((line, i) => {
    const [name, ...values] = line.split(",");
    assert.equal(name, reference.names[i]);
    values.forEach((value, j) => {
      const expected = reference.z[i * k + j]!;
      // float32 transforms and products against float64 numpy over 1,000 genes.
      assert.ok(
        Math.abs(Number(value) - expected) < 1e-4 * (1 + Math.abs(expected)),
        `cell ${i}, PC${j + 1}`,
      );
    });
  });

  // Logistic regression on the embedding, the IPCA checkpoint as a frozen transform (upstream's
  // lr_train_config): its logits are exactly z_nk W_gc + b_c of the embedding just written.
  await runModelCommand(modelByCommand("logistic_regression")!, "fit", {
    configs: [await example("lr_train_config.yaml", dir), await example("lr_on_ipca_config.yaml", dir)],
    overrides: [
      ["trainer.enable_progress_bar", false],
      ["trainer.max_epochs", 1],
      ["model.transforms.0.file_path", checkpoint],
    ] as never,
    log: () => {},
  });
  const lrCheckpoint = join(dir, "lr/checkpoints/lr.safetensors");
  const lr = (await loadPipeline(lrCheckpoint)).model;
  assert.deepEqual(
    lr.var_names_g,
    Array.from({ length: k }, (_, j) => `PC${j + 1}`),
  );
  await runModelCommand(modelByCommand("logistic_regression")!, "predict", {
    configs: [await example("lr_train_config.yaml", dir), await example("lr_on_ipca_config.yaml", dir)],
    overrides: [
      ["trainer.enable_progress_bar", false],
      ["model.transforms.0.file_path", checkpoint],
      ["ckpt_path", lrCheckpoint],
    ] as never,
    log: () => {},
  });
  const W_gc = lr.stateDict().W_gc!;
  const b_c = lr.stateDict().b_c!;
  const c = b_c.size;
  const logits = gunzipSync(await readFile(join(dir, "lr/predictions/predictions.csv.gz")))
    .toString("utf8")
    .trim()
    .split("\n")
    .slice(1);
  assert.equal(logits.length, 2000);
  logits.forEach((line, i) => {
    const z = lines[i + 1]!.split(",").slice(1).map(Number);
    line
      .split(",")
      .slice(1)
      .forEach((value, j) => {
        let expected = b_c.data[j]!;
        for (let p = 0; p < k; p++) expected += z[p]! * W_gc.data[p * c + j]!;
        assert.ok(
          Math.abs(Number(value) - expected) < 1e-3 * (1 + Math.abs(expected)),
          `cell ${i}, class ${j}`,
        );
      });
  });

  // ZScore's statistics from the onepass checkpoint (!CheckpointLoader attr model.mean_g) instead of
  // the CSV: the same float32 values, so the same components.
  const onepassCheckpoint = join(
    dir,
    "onepass/lightning_logs/version_0/checkpoints/epoch=0-step=20.safetensors",
  );
  const fromCheckpoint = await example("ipca_train_config.yaml", join(dir, "ckpt"), (text) =>
    text.replace(
      /init_args:\n {8}!FileMultiLoader[\s\S]*?convert_fn: pandas\.Series\.to_numpy\n/,
      ["mean_g", "std_g", "var_names_g"]
        .map(
          (field) =>
            `        ${field}: !CheckpointLoader {file_path: ${onepassCheckpoint}, attr: model.${field}, convert_fn: null}\n`,
        )
        .join("")
        .replace(/^/, "init_args:\n"),
    ),
  );
  assert.match(await readFile(fromCheckpoint, "utf8"), /attr: model\.mean_g/);
  await run("incremental_pca", "fit", fromCheckpoint, fast);
  const second = (await loadPipeline(join(dir, "ckpt/ipca", checkpointName))).model;
  assert.deepEqual(second.attribute!("V_kg"), V_kg);
  assert.deepEqual(second.attribute!("S_k"), model.attribute!("S_k"));
});

test("a split IncrementalPCA run warns when it keeps a rank-k summary per replica, not with the exact scatter state", async () => {
  const dir = tempDir("ipca-warn-");
  await run("onepass_mean_var_std", "fit", await example("onepass_train_config.yaml", dir));
  const config = await example("ipca_train_config.yaml", dir);
  const warnings = async (algorithm: string) => {
    const lines: string[] = [];
    await runModelCommand(modelByCommand("incremental_pca")!, "fit", {
      configs: [config],
      overrides: [
        ["trainer.enable_progress_bar", false],
        ["trainer.max_steps", 1],
        ["model.model.init_args.algorithm", algorithm],
        ...fast,
      ] as never,
      replica: { replicaRank: 0, numReplicas: 2 },
      partialPath: join(dir, `part-${algorithm}.safetensors`),
      log: (line) => lines.push(line),
    });
    return lines.filter((line) => line.startsWith("warning: IncrementalPCA"));
  };
  const [warning, ...rest] = await warnings("lowrank");
  assert.match(
    warning ?? "",
    /keeps a rank-10 summary per replica; with 2 replicas .*\(algorithm: scatter is exact/,
  );
  assert.equal(rest.length, 0);
  assert.deepEqual(await warnings("scatter"), []);
});
