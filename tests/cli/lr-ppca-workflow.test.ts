// The example configs of logistic_regression and probabilistic_pca run through the command line on
// the demo data, with their paths moved into a temporary directory.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { gunzipSync } from "node:zlib";
import { modelByCommand } from "../../src/cli/registry.js";
import { runModelCommand } from "../../src/cli/run.js";
import { loadCheckpoint } from "../../src/train/checkpoint.js";
import { runPython } from "../helpers/python.js";
import { tempDir } from "../helpers/temp.js";

const root = new URL("../..", import.meta.url).pathname;
const demoFiles = [0, 1].map((i) => join(root, `examples/data/demo_${i}.h5ad`));

/** An example config with runs/ under `dir` and the demo data by absolute path. */
async function exampleConfig(name: string, dir: string): Promise<string> {
  const text = (await readFile(join(root, "examples/cli_workflow", name), "utf8"))
    .replaceAll("runs/", `${dir}/`)
    .replaceAll("examples/data/", `${join(root, "examples/data")}/`);
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

async function run(
  command: string,
  stage: "fit" | "predict",
  config: string,
  overrides: [string, unknown][],
) {
  const lines: string[] = [];
  await runModelCommand(modelByCommand(command)!, stage, {
    configs: [config],
    overrides: overrides as never,
    log: (line) => lines.push(line),
  });
  return lines;
}

/** The rows of a gzipped prediction CSV, header first. */
async function readPredictions(path: string): Promise<string[][]> {
  return gunzipSync(await readFile(path))
    .toString("utf8")
    .trim()
    .split("\n")
    .map((line) => line.split(","));
}

test("logistic_regression fit and predict on the demo data, features z-scored from the onepass CSV", async () => {
  const dir = tempDir("cli-lr-");
  const quiet: [string, unknown][] = [["trainer.enable_progress_bar", false]];
  await run("onepass_mean_var_std", "fit", await exampleConfig("onepass_train_config.yaml", dir), quiet);
  const config = await exampleConfig("lr_train_config.yaml", dir);
  const fit = await run("logistic_regression", "fit", config, [...quiet, ["trainer.max_epochs", 1]]);
  assert.ok(
    fit.some((l) => l.startsWith("fit: 1600 cells")),
    fit.join("\n"),
  );
  assert.ok(
    fit.some((l) => /^validation loss: \d/.test(l)),
    fit.join("\n"),
  );
  const checkpoint = join(dir, "lr/checkpoints/lr.safetensors");
  const predict = await run("logistic_regression", "predict", config, [...quiet, ["ckpt_path", checkpoint]]);
  assert.ok(
    predict.some((l) => l.startsWith("predict: 2000 cells")),
    predict.join("\n"),
  );
  const rows = await readPredictions(join(dir, "lr/predictions/predictions.csv.gz"));
  assert.deepEqual(rows[0], ["obs_names_n", ...[0, 1, 2, 3, 4].map((c) => `y_logits_nc_${c}`)]);
  assert.equal(rows.length, 2001);

  // numpy's logits from the checkpoint's weights and the same features: the predictions are
  // z-scored log-normalized counts times W_gc plus b_c, for every cell in order.
  const state = (await loadCheckpoint(checkpoint)).modelState;
  const reference = runPython(
    `
import json, sys, numpy as np, pandas as pd, anndata
inp = json.load(sys.stdin)
a = anndata.concat([anndata.read_h5ad(f) for f in inp["files"]])
stats = pd.read_csv(inp["csv"])
x = a.X.toarray().astype(np.float64); t = a.obs.total_mrna_umis.values.astype(np.float64)
z = (np.log1p(1e4 * x / (t[:, None] + 1e-6)) - stats.mean_g.values) / (stats.std_g.values + 1e-6)
logits = z @ np.array(inp["W"]).reshape(-1, 5) + np.array(inp["b"])
print(json.dumps({"logits": logits.tolist(), "names": a.obs_names.tolist()}))
`,
    {
      files: demoFiles,
      csv: join(dir, "onepass/onepass.csv"),
      W: [...state.W_gc!.data],
      b: [...state.b_c!.data],
    },
  ) as { logits: number[][]; names: string[] };
  rows.slice(1).forEach((row, i) => {
    assert.equal(row[0], reference.names[i]);
    const logits = row.slice(1).map(Number);
    logits.forEach((v, c) => {
      const expected = reference.logits[i]![c]!;
      assert.ok(
        Math.abs(v - expected) < 1e-3 * (1 + Math.abs(expected)),
        `cell ${i} class ${c}: ${v} vs ${expected}`,
      );
    });
  });
});

test("probabilistic_pca fit and predict on the demo data write z_nk = solve(M, W (x - mean_g))", async () => {
  const dir = tempDir("cli-ppca-");
  const quiet: [string, unknown][] = [["trainer.enable_progress_bar", false]];
  await run("onepass_mean_var_std", "fit", await exampleConfig("onepass_train_config.yaml", dir), quiet);
  const config = await exampleConfig("ppca_train_config.yaml", dir);
  const small: [string, unknown][] = [
    ...quiet,
    ["trainer.max_epochs", 1],
    ["model.model.init_args.n_components", 4],
  ];
  const fit = await run("probabilistic_pca", "fit", config, small);
  assert.ok(
    fit.some((l) => l.startsWith("fit: 2000 cells")),
    fit.join("\n"),
  );
  const checkpoint = join(dir, "ppca/checkpoints/ppca.safetensors");
  await run("probabilistic_pca", "predict", config, [...small, ["ckpt_path", checkpoint]]);
  const rows = await readPredictions(join(dir, "ppca/predictions/predictions.csv.gz"));
  assert.deepEqual(rows[0], ["obs_names_n", "z_nk_0", "z_nk_1", "z_nk_2", "z_nk_3"]);
  assert.equal(rows.length, 2001);
  const state = (await loadCheckpoint(checkpoint)).modelState;
  const reference = runPython(
    `
import json, sys, numpy as np, pandas as pd, anndata
inp = json.load(sys.stdin)
a = anndata.concat([anndata.read_h5ad(f) for f in inp["files"]])
stats = pd.read_csv(inp["csv"])
x = a.X.toarray().astype(np.float64); t = a.obs.total_mrna_umis.values.astype(np.float64)
z = (np.log1p(1e4 * x / (t[:, None] + 1e-6)) - stats.mean_g.values) / (stats.std_g.values + 1e-6)
W = np.array(inp["W"]).reshape(4, -1); s2 = np.exp(2 * inp["log_sigma"])
M = W @ W.T + s2 * np.eye(4)
print(json.dumps(np.linalg.solve(M, W @ (z - np.array(inp["mean"])).T).T.tolist()))
`,
    {
      files: demoFiles,
      csv: join(dir, "onepass/onepass.csv"),
      W: [...state.W_kg!.data],
      log_sigma: state.sigma_unconstrained!.data[0],
      mean: [...state.mean_g!.data],
    },
  ) as number[][];
  rows.slice(1).forEach((row, i) => {
    row.slice(1).forEach((v, c) => {
      const expected = reference[i]![c]!;
      assert.ok(
        Math.abs(Number(v) - expected) < 1e-3 * (1 + Math.abs(expected)),
        `cell ${i} z ${c}: ${v} vs ${expected}`,
      );
    });
  });
});
