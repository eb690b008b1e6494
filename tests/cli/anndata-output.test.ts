// predict's AnnData output, read by Debian's anndata: the input cells' obs with IncrementalPCA's
// coordinates as scanpy names them (obsm X_pca, varm PCs, uns pca) and LogisticRegression's
// predicted labels in obs, equal to the numbers of the CSV output of the same checkpoint.

import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { exampleConfig, runCommand } from "../helpers/examples.js";
import { runPython } from "../helpers/python.js";
import { tempDir } from "../helpers/temp.js";

const root = new URL("../..", import.meta.url).pathname;
const demo = `${root}examples/data/demo_{0..1}.h5ad`;
const example = exampleConfig;
const run = runCommand;

/** The PredictionWriter's output_dir of an example, replaced by `to`. */
const outputTo = (to: string) => (text: string) => text.replace(/output_dir: .*/, `output_dir: ${to}`);
/** A second copy of an example, for the .h5ad run. */
const h5adCopy = (name: string, dir: string, to: string) =>
  exampleConfig(name, dir, outputTo(to), name.replace(".yaml", "-h5ad.yaml"));

// Reads the input obs (both shards) and the output with anndata, and compares them in numpy.
const CHECK = `
import json, sys, numpy as np, pandas as pd, anndata
args = json.load(sys.stdin)
inputs = [anndata.read_h5ad(f) for f in args["inputs"]]
obs = pd.concat([a.obs for a in inputs])
out = anndata.read_h5ad(args["output"])
csv = pd.read_csv(args["csv"], index_col=0)
res = {
  "shape": list(out.shape), "x_none": out.X is None,
  "obs_names_equal": list(out.obs_names) == list(obs.index) == list(csv.index),
  "unique": bool(out.obs_names.is_unique and out.var_names.is_unique),
  "columns": list(out.obs.columns), "obsm": sorted(out.obsm.keys()), "varm": sorted(out.varm.keys()),
  "uns": sorted(out.uns.keys()),
}
same = {}
for c in obs.columns:
  a, b = obs[c], out.obs[c]
  if isinstance(a.dtype, pd.CategoricalDtype):
    same[c] = isinstance(b.dtype, pd.CategoricalDtype) and list(a.cat.categories) == list(b.cat.categories) and (a.astype(str).values == b.astype(str).values).all()
  else:
    same[c] = str(a.dtype) == str(b.dtype) and np.array_equal(a.values, b.values)
res["same_obs"] = {k: bool(v) for k, v in same.items()}
if args["kind"] == "pca":
  z = out.obsm["X_pca"]
  res["pca_max_diff"] = float(np.abs(z - csv.values).max())
  res["pcs_shape"] = list(out.varm["PCs"].shape)
  res["var_names"] = list(out.var_names) == list(inputs[0].var_names)
  res["pca"] = {k: np.asarray(v).tolist() for k, v in out.uns["pca"].items()}
  res["cellxgene"] = any(k.startswith("X_") and out.obsm[k].ndim == 2 and out.obsm[k].shape[1] >= 2 for k in out.obsm.keys())
else:
  logits = csv.values
  cats = list(out.uns["cell_type_probabilities_categories"])
  p = out.obsm["cell_type_probabilities"]
  e = np.exp(logits - logits.max(1, keepdims=True))
  res["categories"] = cats
  res["pred_categories"] = list(out.obs["cell_type_pred"].cat.categories)
  res["labels_match"] = bool((out.obs["cell_type_pred"].astype(str).values == np.array(cats)[logits.argmax(1)]).all())
  res["sum_diff"] = float(np.abs(p.sum(1) - 1).max())
  res["softmax_diff"] = float(np.abs(p - e / e.sum(1, keepdims=True)).max())
  res["best_diff"] = float(np.abs(out.obs["cell_type_pred_probability"].values - p.max(1)).max())
  res["var_empty"] = out.n_vars == 0
print(json.dumps(res))
`;

function check(kind: "pca" | "lr", output: string, csv: string): Record<string, unknown> {
  const inputs = [0, 1].map((i) => demo.replace("{0..1}", String(i)));
  return runPython(CHECK, { kind, inputs, output, csv }) as Record<string, unknown>;
}

const INPUT_COLUMNS = ["cell_type", "batch", "total_mrna_umis", "n_genes"];
const SAME_OBS = Object.fromEntries(INPUT_COLUMNS.map((c) => [c, true]));

test("incremental_pca predict to an .h5ad: the input's obs, obsm X_pca equal to the CSV, varm PCs and uns pca as scanpy", async () => {
  const dir = tempDir("anndata-ipca-");
  const k: [string, unknown][] = [
    ["model.model.init_args.n_components", 10],
    ["data.batch_size", 500],
  ];
  await run("onepass_mean_var_std", "fit", await example("onepass_train_config.yaml", dir));
  await run("incremental_pca", "fit", await example("ipca_train_config.yaml", dir), k);
  // Not gzipped, for pandas to read (the default gzip is detected by the name as well).
  const csvConfig = await example("ipca_predict_config.yaml", dir);
  await run("incremental_pca", "predict", csvConfig, [...k, ["trainer.callbacks.0.init_args.gzip", false]]);
  const output = join(dir, "out/ipca.h5ad");
  const lines = await run(
    "incremental_pca",
    "predict",
    await h5adCopy("ipca_predict_config.yaml", dir, output),
    k,
  );
  assert.ok(
    lines.some((l) => l.endsWith(`predictions: ${output}`)),
    lines.join("\n"),
  );
  const res = check("pca", output, join(dir, "ipca/predictions/predictions.csv"));
  assert.deepEqual(
    { ...res, pca_max_diff: undefined, pca: undefined },
    {
      shape: [2000, 1000],
      x_none: true,
      obs_names_equal: true,
      unique: true,
      columns: INPUT_COLUMNS,
      obsm: ["X_pca"],
      varm: ["PCs"],
      uns: ["pca"],
      same_obs: SAME_OBS,
      pca_max_diff: undefined,
      pcs_shape: [1000, 10],
      var_names: true,
      pca: undefined,
      cellxgene: true,
    },
  );
  assert.ok((res.pca_max_diff as number) < 1e-5, `X_pca vs CSV: ${res.pca_max_diff}`);
  const pca = res.pca as { variance: number[]; variance_ratio: number[] };
  assert.equal(pca.variance.length, 10);
  assert.equal(pca.variance_ratio.length, 10);
  for (let j = 1; j < 10; j++) assert.ok(pca.variance[j]! <= pca.variance[j - 1]!);
  const ratioSum = pca.variance_ratio.reduce((a, b) => a + b, 0);
  assert.ok(ratioSum > 0 && ratioSum < 1, `variance_ratio sums to ${ratioSum}`);
});

test("logistic_regression predict to an .h5ad: obs cell_type_pred is the argmax of the CSV's logits, probabilities sum to 1", async () => {
  const dir = tempDir("anndata-lr-");
  await run("onepass_mean_var_std", "fit", await example("onepass_train_config.yaml", dir));
  const config = await example("lr_train_config.yaml", dir);
  await run("logistic_regression", "fit", config, [["trainer.max_epochs", 1]]);
  const ckpt: [string, unknown] = ["ckpt_path", join(dir, "lr/checkpoints/lr.safetensors")];
  await run("logistic_regression", "predict", config, [ckpt, ["trainer.callbacks.1.init_args.gzip", false]]);
  const output = join(dir, "lr.h5ad");
  await run("logistic_regression", "predict", await h5adCopy("lr_train_config.yaml", dir, output), [ckpt]);
  const res = check("lr", output, join(dir, "lr/predictions/predictions.csv"));
  const categories = res.categories as string[];
  assert.equal(categories.length, 5);
  assert.deepEqual(
    { ...res, sum_diff: undefined, softmax_diff: undefined, best_diff: undefined },
    {
      shape: [2000, 0],
      x_none: true,
      obs_names_equal: true,
      unique: true,
      columns: [...INPUT_COLUMNS, "cell_type_pred", "cell_type_pred_probability"],
      obsm: ["cell_type_probabilities"],
      varm: [],
      uns: ["cell_type_probabilities_categories"],
      same_obs: SAME_OBS,
      categories,
      pred_categories: categories,
      labels_match: true,
      sum_diff: undefined,
      softmax_diff: undefined,
      best_diff: undefined,
      var_empty: true,
    },
  );
  for (const key of ["sum_diff", "softmax_diff", "best_diff"])
    assert.ok((res[key] as number) < 1e-5, `${key}: ${res[key]}`);
});
