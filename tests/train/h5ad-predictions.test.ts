// The .h5ad predictions writer with a stand-in obs source: duplicate names made unique, obs copied
// per batch, labels from logits; and the layouts of the models without a PCA state.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import type { DataFrameColumn } from "../../src/data/h5ad/dataframe.js";
import { AnnDataFile } from "../../src/data/h5ad/reader.js";
import type { DenseMatrix } from "../../src/data/matrix.js";
import type { CellariumModel } from "../../src/models/model.js";
import { anndataLayout, classProbabilities } from "../../src/train/anndata-layout.js";
import { H5adPredictions, type ObsSource } from "../../src/train/h5ad-predictions.js";
import { tempDir } from "../helpers/temp.js";

const dir = tempDir("h5ad-predictions-");

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

test("H5adPredictions: duplicate names get -1, -2; obs follows the batches' rows; logits become labels", async () => {
  const path = join(dir, "labels.h5ad");
  const layout = {
    obsmKey: "cell_type_probabilities",
    labels: { name: "cell_type", categories: ["B", "T"] },
  };
  const out = await H5adPredictions.create(path, layout, obs);
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
