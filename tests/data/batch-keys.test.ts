import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { type BatchKeysConfig, planBatchKeys } from "../../src/data/batch-keys.js";
import { DistributedAnnDataCollection } from "../../src/data/collection.js";
import type { Matrix } from "../../src/data/matrix.js";
import { runPython } from "../helpers/python.js";
import { denseRows, tempDir, writeShards } from "../helpers/shards.js";

// References: the fixture's JSON description, written by anndata (scripts/make-fixtures.py), and
// pandas' astype(str) run here through Python.
const fixture = "tests/fixtures/h5ad/full-csr.h5ad";
const expected = JSON.parse(readFileSync("tests/fixtures/h5ad/full-csr.json", "utf8"));
const cells = Int32Array.from([12, 0, 5, 3, 3, 7]);
const pick = <T>(values: readonly T[]): T[] => Array.from(cells, (i) => values[i]!);
const column = (name: string) => expected.obs.columns[name];
const matrix = (m: unknown): Matrix => m as Matrix;

async function read(config: BatchKeysConfig) {
  const collection = await DistributedAnnDataCollection.open({ filenames: [fixture] });
  try {
    const plan = planBatchKeys(config, collection.schema);
    return { ...plan.constants, ...plan.cellValues(await collection.readRows(cells, plan.request)) };
  } finally {
    collection.close();
  }
}

test("X, layers and obsm with the default and upstream's convert functions", async () => {
  const module = "cellarium.ml.utilities.data";
  const batch = await read({
    x_ng: { attr: "X" },
    x_dense: { attr: "X", convert_fn: `${module}.densify` },
    x_kept: { attr: "X", convert_fn: "keep_sparse" },
    counts: { attr: "layers", key: "counts" },
    dense_layer: { attr: "layers", key: "dense" },
    dense_as_csr: { attr: "layers", key: "dense", convert_fn: `${module}.to_torch_sparse_csr` },
    pca: { attr: "obsm", key: "X_pca" },
    sparse_obsm: { attr: "obsm", key: "sparse" },
    sparse_kept: { attr: "obsm", key: "sparse", convert_fn: "keep_sparse" },
  });
  const rows = (m: { dense: number[][] }) => pick(m.dense);
  const f32 = (values: number[][]) => values.map((row) => row.map(Math.fround));
  assert.equal(matrix(batch.x_ng).format, "csr");
  assert.deepEqual(denseRows(matrix(batch.x_ng)), rows(expected.X));
  assert.equal(matrix(batch.x_dense).format, "dense");
  assert.deepEqual(denseRows(matrix(batch.x_dense)), rows(expected.X));
  assert.equal(matrix(batch.x_kept).format, "csr");
  assert.equal(matrix(batch.counts).format, "csr");
  assert.deepEqual(denseRows(matrix(batch.counts)), rows(expected.layers.counts));
  assert.equal(matrix(batch.dense_layer).format, "dense");
  assert.deepEqual(denseRows(matrix(batch.dense_layer)), f32(rows(expected.layers.dense)));
  assert.equal(matrix(batch.dense_as_csr).format, "csr");
  assert.deepEqual(denseRows(matrix(batch.dense_as_csr)), f32(rows(expected.layers.dense)));
  assert.equal(matrix(batch.pca).format, "dense");
  assert.deepEqual(denseRows(matrix(batch.pca)), f32(rows(expected.obsm.X_pca)));
  assert.equal(matrix(batch.sparse_obsm).format, "dense");
  assert.deepEqual(denseRows(matrix(batch.sparse_obsm)), f32(rows(expected.obsm.sparse)));
  assert.equal(matrix(batch.sparse_kept).format, "csr");
});

test("obs columns: codes, categories, labels, numbers, booleans, nullable values; names", async () => {
  const batch = await read({
    y_n: { attr: "obs", key: "cell_type", convert_fn: "cellarium.ml.utilities.data.categories_to_codes" },
    y_categories: { attr: "obs", key: "cell_type", convert_fn: "get_categories" },
    stage_categories: { attr: "obs", key: "stage", convert_fn: "get_categories" },
    labels: { attr: "obs", key: "with_nan" },
    total: { attr: "obs", key: "total" },
    is_doublet: { attr: "obs", key: "is_doublet" },
    umi: { attr: "obs", key: "umi_nullable" },
    barcode: { attr: "obs", key: "barcode" },
    obs_names_n: { attr: "obs_names" },
    var_names_g: { attr: "var_names" },
  });
  assert.deepEqual(batch.y_n, Int32Array.from(pick(column("cell_type").codes)));
  assert.deepEqual(batch.y_categories, column("cell_type").categories);
  assert.deepEqual(batch.stage_categories, Float64Array.from(column("stage").categories));
  const withNan = column("with_nan");
  assert.deepEqual(
    batch.labels,
    pick(withNan.codes as number[]).map((c) => (c < 0 ? "nan" : withNan.categories[c])),
  );
  assert.deepEqual(batch.total, Float32Array.from(pick(column("total").values)));
  assert.deepEqual(batch.is_doublet, Uint8Array.from(pick(column("is_doublet").values as boolean[]), Number));
  const umi = column("umi_nullable");
  assert.deepEqual(
    batch.umi,
    Float32Array.from(pick(umi.values as number[]), (v, i) =>
      pick(umi.mask as boolean[])[i] ? Number.NaN : v,
    ),
  );
  assert.deepEqual(batch.barcode, pick(column("barcode").values));
  assert.deepEqual(batch.obs_names_n, pick(expected.obs_names));
  assert.deepEqual(batch.var_names_g, expected.var_names);
});

test("a list of categorical obs columns gives their codes side by side, row-major (scVI's covariates)", async () => {
  const batch = await read({
    categorical_covariate_index_nd: {
      attr: "obs",
      key: ["cell_type", "donor", "with_nan"],
      convert_fn: "categories_to_codes",
    },
  });
  const columns = ["cell_type", "donor", "with_nan"].map((name) => pick(column(name).codes as number[]));
  const n = columns[0]!.length;
  const expectedCodes = new Int32Array(3 * n);
  for (let i = 0; i < n; i++) for (let d = 0; d < 3; d++) expectedCodes[3 * i + d] = columns[d]![i]!;
  assert.deepEqual(batch.categorical_covariate_index_nd, expectedCodes);
});

test("series_to_str_list equals pandas' astype(str) for every obs column kind", async () => {
  const names: string[] = expected.obs.column_order;
  const config = Object.fromEntries(
    names.map((name) => [name, { attr: "obs", key: name, convert_fn: "series_to_str_list" }]),
  );
  const batch = await read({ ...config, names: { attr: "obs_names", convert_fn: "series_to_str_list" } });
  const reference = runPython(
    `import json, sys, anndata
a = anndata.read_h5ad(sys.argv[1])
idx = json.load(sys.stdin)
print(json.dumps({c: a.obs[c].astype(str).to_numpy()[idx].tolist() for c in a.obs.columns}))`,
    [...cells],
    [fixture],
  ) as Record<string, string[]>;
  for (const name of names) assert.deepEqual(batch[name], reference[name], name);
  assert.deepEqual(batch.names, pick(expected.obs_names));
});

test("unknown attr, key or convert_fn, and misplaced ones, are ConfigErrors naming them", async () => {
  const dir = tempDir("batch-keys-");
  const [path] = await writeShards(dir, [{ nObs: 3 }]);
  const collection = await DistributedAnnDataCollection.open({ filenames: [path!] });
  const cases: [BatchKeysConfig, RegExp][] = [
    [
      { x: { attr: "Y" } },
      /batch_keys\.x: unknown attr 'Y' \(valid: X, layers, obsm, obs, obs_names, var_names\)/,
    ],
    [
      { y_n: { attr: "obs", key: "nope" } },
      /batch_keys\.y_n: obs has no key 'nope' \(valid: cell_type, cell_id, tag\)/,
    ],
    [{ y_n: { attr: "obs" } }, /batch_keys\.y_n: obs needs a key \(valid: cell_type, cell_id, tag\)/],
    [{ l: { attr: "layers", key: "counts" } }, /batch_keys\.l: layers has no key 'counts' \(valid: none\)/],
    [{ x_ng: { attr: "X", key: "counts" } }, /batch_keys\.x_ng: attr 'X' takes no key, got 'counts'/],
    [
      { x_ng: { attr: "X", convert_fn: "cellarium.ml.utilities.data.sparsify" } },
      /batch_keys\.x_ng: unknown convert_fn 'cellarium\.ml\.utilities\.data\.sparsify' \(valid: cellarium\.ml\.utilities\.data\.densify, .*series_to_str_list, or the bare names\)/,
    ],
    [
      { y_n: { attr: "obs", key: "cell_id", convert_fn: "categories_to_codes" } },
      /batch_keys\.y_n: convert_fn 'categories_to_codes' does not apply to obs column 'cell_id' \(numeric\)/,
    ],
    [
      { x_ng: { attr: "X", convert_fn: "get_categories" } },
      /batch_keys\.x_ng: convert_fn 'get_categories' does not apply to the matrix X/,
    ],
    [
      { y_n: { attr: "obs", key: ["cell_type", "tag"] } },
      /batch_keys\.y_n: a list of keys needs attr obs and convert_fn categories_to_codes, got attr 'obs' and convert_fn 'default'/,
    ],
    [
      { y_n: { attr: "obs", key: ["cell_type", "cell_id"], convert_fn: "categories_to_codes" } },
      /batch_keys\.y_n: convert_fn categories_to_codes needs categorical columns; obs 'cell_id' is numeric/,
    ],
    [
      { y_n: { attr: "obs", key: ["cell_type", "nope"], convert_fn: "categories_to_codes" } },
      /batch_keys\.y_n: obs has no column "nope"/,
    ],
  ];
  for (const [config, message] of cases) {
    assert.throws(() => planBatchKeys(config, collection.schema), { name: "ConfigError", message });
  }
  collection.close();
});
