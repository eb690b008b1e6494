// predict's AnnData output, read by Debian's anndata: the input cells' obs with IncrementalPCA's
// coordinates as scanpy names them (obsm X_pca, varm PCs, uns pca) and LogisticRegression's
// predicted labels in obs, equal to the numbers of the CSV output of the same checkpoint; the
// AnnData-Zarr store of the same run read by anndata.read_zarr and python3-zarr's
// open_consolidated, equal to the .h5ad, and summarised by `cellarium inspect`.

import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { cliStdout } from "../helpers/cli-capture.js";
import { exampleConfig, runCommand } from "../helpers/examples.js";
import { runPython } from "../helpers/python.js";
import { tempDir } from "../helpers/temp.js";

const root = new URL("../..", import.meta.url).pathname;
const demo = `${root}examples/data/demo_{0..1}.h5ad`;
const example = exampleConfig;
const run = runCommand;

/** The PredictionWriter's output_dir of an example, replaced by `to`. */
const outputTo = (to: string) => (text: string) => text.replace(/output_dir: .*/, `output_dir: ${to}`);
/** A copy of an example writing to `to`, for the .h5ad and .zarr runs. */
const h5adCopy = (name: string, dir: string, to: string) =>
  exampleConfig(name, dir, outputTo(to), name.replace(".yaml", `-${to.split(".").at(-1)}.yaml`));

// Reads the input obs (both shards) and the output with anndata, and compares them in numpy.
const CHECK = `
import json, sys, numpy as np, pandas as pd, anndata
args = json.load(sys.stdin)
inputs = [anndata.read_h5ad(f) for f in args["inputs"]]
obs = pd.concat([a.obs for a in inputs])
out = anndata.read_zarr(args["output"]) if args["output"].endswith(".zarr") else anndata.read_h5ad(args["output"])
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

// The store against the .h5ad of the same run (anndata's own comparison of every element), and
// the Zarr v2 metadata anndata.js and Vitessce read: consolidated, with anndata's encodings.
const SAME_AS_H5AD = `
import json, sys, numpy as np, pandas as pd, zarr, anndata
args = json.load(sys.stdin)
z, h = anndata.read_zarr(args["zarr"]), anndata.read_h5ad(args["h5ad"])
pd.testing.assert_frame_equal(z.obs, h.obs)
pd.testing.assert_frame_equal(z.var, h.var)
assert sorted(z.obsm.keys()) == sorted(h.obsm.keys()) and sorted(z.varm.keys()) == sorted(h.varm.keys())
for k in h.obsm.keys(): assert z.obsm[k].dtype == h.obsm[k].dtype and np.array_equal(z.obsm[k], h.obsm[k]), k
for k in h.varm.keys(): assert np.array_equal(z.varm[k], h.varm[k]), k
def same(a, b):
  if isinstance(b, dict): return sorted(a) == sorted(b) and all(same(a[k], b[k]) for k in b)
  return np.array_equal(np.asarray(a), np.asarray(b))
assert same(dict(z.uns), dict(h.uns))
g = zarr.open_consolidated(args["zarr"], mode="r")
meta = json.load(open(args["zarr"] + "/.zmetadata"))["metadata"]
print(json.dumps({
  "format": g.attrs.asdict() and json.load(open(args["zarr"] + "/.zgroup"))["zarr_format"],
  "root": g.attrs.asdict(), "obs": g["obs"].attrs.asdict(),
  "obsm": {k: [list(g["obsm"][k].shape), g["obsm"][k].attrs.asdict()] for k in g["obsm"].array_keys()},
  "consolidated": sorted(k for k in meta if k.endswith(".zarray")),
}))
`;

const INPUT_COLUMNS = ["cell_type", "batch", "total_mrna_umis", "n_genes", "chemistry"];
const SAME_OBS = Object.fromEntries(INPUT_COLUMNS.map((c) => [c, true]));

test("incremental_pca predict to an .h5ad and a .zarr store: the input's obs, obsm X_pca equal to the CSV, varm PCs and uns pca as scanpy", async () => {
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

  // The same run to an AnnData-Zarr store: the same checks, and equal to the .h5ad.
  const store = join(dir, "out/ipca.zarr");
  const zarrLines = await run(
    "incremental_pca",
    "predict",
    await h5adCopy("ipca_predict_config.yaml", dir, store),
    k,
  );
  assert.ok(
    zarrLines.some((l) => l.endsWith(`predictions: ${store}`)),
    zarrLines.join("\n"),
  );
  const zres = check("pca", store, join(dir, "ipca/predictions/predictions.csv"));
  assert.deepEqual(zres, res);
  const array = { "encoding-type": "array", "encoding-version": "0.2.0" };
  assert.deepEqual(runPython(SAME_AS_H5AD, { zarr: store, h5ad: output }), {
    format: 2,
    root: { "encoding-type": "anndata", "encoding-version": "0.1.0" },
    obs: {
      _index: "_index",
      "column-order": INPUT_COLUMNS,
      "encoding-type": "dataframe",
      "encoding-version": "0.2.0",
    },
    obsm: { X_pca: [[2000, 10], array] },
    consolidated: [
      "obs/_index/.zarray",
      "obs/batch/categories/.zarray",
      "obs/batch/codes/.zarray",
      "obs/cell_type/categories/.zarray",
      "obs/cell_type/codes/.zarray",
      "obs/chemistry/categories/.zarray",
      "obs/chemistry/codes/.zarray",
      "obs/n_genes/.zarray",
      "obs/total_mrna_umis/.zarray",
      "obsm/X_pca/.zarray",
      "uns/pca/variance/.zarray",
      "uns/pca/variance_ratio/.zarray",
      "var/_index/.zarray",
      "varm/PCs/.zarray",
    ],
  });
  // inspect prints a store as it prints the .h5ad, with the obsm and varm shapes.
  const h5adSummary = cliStdout(["inspect", output]).split("\n");
  assert.equal(h5adSummary[0], `${output}: AnnData with 2000 cells x 1000 genes, no X`);
  const summary = cliStdout(["inspect", store]).split("\n");
  // obs and var columns, obs_names and var_names.
  assert.deepEqual(summary.slice(1, 10), h5adSummary.slice(1, 10));
  assert.deepEqual(summary.slice(0, 7), [
    `${store}: AnnData-Zarr store with 2000 cells x 1000 genes, no X`,
    "obs: 5 column(s)",
    "  cell_type: categorical, 5 categories: B cell, T cell, NK cell, monocyte, dendritic cell",
    "  batch: categorical, 2 categories: donor0, donor1",
    "  total_mrna_umis: numeric (float32)",
    "  n_genes: numeric (int64)",
    "  chemistry: categorical, 2 categories: 10x_v2, 10x_v3",
  ]);
  assert.ok(summary.includes("obsm: X_pca [2000 x 10]"), summary.join("\n"));
  assert.ok(summary.includes("varm: PCs [1000 x 10]"), summary.join("\n"));
  assert.ok(summary.includes("uns: pca"), summary.join("\n"));
  assert.ok(
    summary.includes("obs_names: cell_00000, cell_00001, cell_00002, cell_00003, cell_00004, ... (2000)"),
  );
});

test("logistic_regression predict to an .h5ad and a .zarr store: obs cell_type_pred is the argmax of the CSV's logits, probabilities sum to 1", async () => {
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

  const store = join(dir, "lr.zarr");
  await run("logistic_regression", "predict", await h5adCopy("lr_train_config.yaml", dir, store), [ckpt]);
  assert.deepEqual(check("lr", store, join(dir, "lr/predictions/predictions.csv")), res);
  const same = runPython(SAME_AS_H5AD, { zarr: store, h5ad: output }) as {
    obsm: unknown;
    consolidated: string[];
  };
  assert.deepEqual(same.obsm, {
    cell_type_probabilities: [[2000, 5], { "encoding-type": "array", "encoding-version": "0.2.0" }],
  });
  assert.ok(same.consolidated.includes("obs/cell_type_pred/codes/.zarray"), same.consolidated.join());
  assert.ok(same.consolidated.includes("uns/cell_type_probabilities_categories/.zarray"));
});
