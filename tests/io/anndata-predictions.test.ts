// The AnnData predictions writer (.h5ad and .zarr) with a stand-in obs source: duplicate names made
// unique, obs copied per batch, labels from logits; a failing .zarr run leaves nothing; and the
// layouts of the models without a PCA state.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { DenseMatrix } from "../../src/data/matrix.js";
import type { DataFrameColumn } from "../../src/formats/h5ad/dataframe.js";
import { AnnDataFile } from "../../src/formats/h5ad/reader.js";
import { anndataLayout, classProbabilities } from "../../src/io/anndata-layout.js";
import { AnnDataPredictions, type ObsSource } from "../../src/io/anndata-predictions.js";
import { PredictionWriter } from "../../src/io/prediction-writer.js";
import type { CellariumModel } from "../../src/models/model.js";
import { runPython } from "../helpers/python.js";
import { tempDir } from "../helpers/temp.js";

const dir = tempDir("anndata-predictions-");

/** A stand-in collection of 4 cells: a categorical and a nullable-integer column. */
const obs: ObsSource = {
  columns: [
    { name: "cell_type", kind: "categorical", categories: ["B", "T"] },
    { name: "count", kind: "nullable-integer" },
  ],
  read: async (indices) =>
    new Map<string, DataFrameColumn>([
      [
        "cell_type",
        {
          kind: "categorical",
          codes: Int32Array.from(indices, (i) => i % 2),
          categories: ["B", "T"],
          ordered: false,
        },
      ],
      [
        "count",
        {
          kind: "nullable-integer",
          values: Float64Array.from(indices, (i) => i * 10),
          mask: Uint8Array.from(indices, (i) => (i === 2 ? 1 : 0)),
        },
      ],
    ]),
};

const dense = (nRows: number, nCols: number, values: number[]): DenseMatrix => ({
  format: "dense",
  nRows,
  nCols,
  data: Float32Array.from(values),
});

test("AnnDataPredictions: duplicate names get -1, -2; obs follows the batches' rows; logits become labels", async () => {
  const path = join(dir, "labels.h5ad");
  const layout = {
    obsmKey: "cell_type_probabilities",
    labels: { name: "cell_type", categories: ["B", "T"] },
  };
  const out = await AnnDataPredictions.create(path, layout, obs);
  await out.append(["a", "a"], dense(2, 2, [0, 1, 2, 0]), new Int32Array([3, 2]));
  await out.append(["a-1", "b", "a"], dense(3, 2, [5, 5, 0, 0, -1, 1]), new Int32Array([1, 0, 0]));
  await out.close();
  assert.equal(out.renamed, 3);
  const file = await AnnDataFile.open(path);
  try {
    assert.deepEqual(file.obsNames(), ["a", "a-1", "a-1-1", "b", "a-2"]);
    assert.deepEqual(file.obs.columns, [
      "cell_type",
      "count",
      "cell_type_pred",
      "cell_type_pred_probability",
    ]);
    const cellType = file.obs.column("cell_type") as { codes: Int32Array };
    assert.deepEqual([...cellType.codes], [1, 0, 1, 0, 0]);
    const count = file.obs.column("count") as { values: Float64Array };
    assert.deepEqual([...count.values], [30, Number.NaN, 10, 0, 0]);
    const pred = file.obs.column("cell_type_pred") as { codes: Int32Array; categories: string[] };
    assert.deepEqual([...pred.codes], [1, 0, 0, 0, 1]);
    assert.deepEqual(pred.categories, ["B", "T"]);
    assert.deepEqual(file.obsmKeys(), ["cell_type_probabilities"]);
    assert.equal(file.xEncoding, null);
    assert.throws(() => file.readX(0, 1), /has no X \(anndata's X = None\)/);
  } finally {
    file.close();
  }
});

test("AnnDataPredictions to .zarr: the same obs, names and labels as the .h5ad, read by anndata.read_zarr", async () => {
  const path = join(dir, "labels.zarr");
  const layout = {
    obsmKey: "cell_type_probabilities",
    labels: { name: "cell_type", categories: ["B", "T"] },
  };
  const out = await AnnDataPredictions.create(path, layout, obs, "zarr");
  await out.append(["a", "a"], dense(2, 2, [0, 1, 2, 0]), new Int32Array([3, 2]));
  await out.append(["a-1", "b", "a"], dense(3, 2, [5, 5, 0, 0, -1, 1]), new Int32Array([1, 0, 0]));
  await out.close();
  assert.equal(out.renamed, 3);
  const res = runPython(
    `import json, anndata, numpy as np
a = anndata.read_zarr(${JSON.stringify(path)})
print(json.dumps({"names": list(a.obs_names), "columns": list(a.obs.columns),
  "cell_type": [str(v) for v in a.obs["cell_type"]], "count": [None if np.isnan(v) else v for v in a.obs["count"]],
  "pred": [str(v) for v in a.obs["cell_type_pred"]], "pred_categories": list(a.obs["cell_type_pred"].cat.categories),
  "obsm": sorted(a.obsm.keys()), "x_none": a.X is None, "uns": list(a.uns["cell_type_probabilities_categories"])}))`,
  );
  assert.deepEqual(res, {
    names: ["a", "a-1", "a-1-1", "b", "a-2"],
    columns: ["cell_type", "count", "cell_type_pred", "cell_type_pred_probability"],
    cell_type: ["T", "B", "T", "B", "B"],
    count: [30, null, 10, 0, 0],
    pred: ["T", "B", "B", "B", "T"],
    pred_categories: ["B", "T"],
    obsm: ["cell_type_probabilities"],
    x_none: true,
    uns: ["B", "T"],
  });
});

test("PredictionWriter to .zarr: a run failing after chunks were written leaves nothing at the path", async () => {
  const outDir = join(dir, "failing");
  mkdirSync(outDir);
  const path = join(outDir, "cells.zarr");
  const writer = new PredictionWriter(
    { outputDir: path, key: "z_nk" },
    { layout: { obsmKey: "X_test" }, obs },
  );
  assert.equal(writer.format, "zarr");
  const n = 5000;
  const batch = (names: string[]) => ({ obs_names_n: names }) as never;
  const names = Array.from({ length: n }, (_, i) => `c${i}`);
  const cells = Int32Array.from({ length: n }, (_, i) => i);
  await writer.write(
    batch(names),
    {
      z_nk: dense(
        n,
        2,
        Array.from({ length: 2 * n }, (_, i) => i),
      ),
    } as never,
    cells,
  );
  // A full chunk (4096 rows) is on disk, in the temporary directory only.
  const [tmp, ...more] = readdirSync(outDir);
  assert.deepEqual(more, []);
  assert.match(tmp!, /^\.cells\.zarr\..*\.tmp$/);
  assert.ok(existsSync(join(outDir, tmp!, "obsm/X_test/0.0")));
  assert.equal(existsSync(path), false);
  await assert.rejects(
    writer.write(batch(["x"]), { z_nk: dense(1, 3, [1, 2, 3]) } as never, new Int32Array([0])),
    /obsm 'X_test' has 3 columns, earlier blocks 2/,
  );
  await writer.abort();
  assert.deepEqual(readdirSync(outDir), []);
});

test("classProbabilities: softmax rows sum to 1, argmax and its probability", () => {
  const { probabilities, codes, best } = classProbabilities(dense(2, 3, [1, 2, 3, 1000, 0, -1000]));
  assert.deepEqual([...codes], [2, 0]);
  const p = probabilities.data;
  const e = [Math.exp(-2), Math.exp(-1), 1];
  const z = e[0]! + e[1]! + e[2]!;
  for (let j = 0; j < 3; j++) assert.ok(Math.abs(p[j]! - e[j]! / z) < 1e-7);
  assert.ok(Math.abs(best[0]! - 1 / z) < 1e-7);
  assert.deepEqual([...p.subarray(3)], [1, 0, 0]);
});

test("anndataLayout: X_pca for ProbabilisticPCA, X_geneformer, obsm_key, and the key for other outputs", () => {
  const model = (className: string) => ({ className }) as unknown as CellariumModel;
  assert.deepEqual(anndataLayout(model("ProbabilisticPCA"), { key: "z_nk" }), { obsmKey: "X_pca" });
  assert.deepEqual(anndataLayout(model("Geneformer"), { key: "cell_embedding_nh" }), {
    obsmKey: "X_geneformer",
  });
  assert.deepEqual(anndataLayout(model("Geneformer"), { key: "cell_embedding_nh", obsmKey: "X_gf" }), {
    obsmKey: "X_gf",
  });
  assert.deepEqual(anndataLayout(model("Geneformer"), { key: "input_ids" }), { obsmKey: "input_ids" });
});
