// Rows appended in blocks read back by Debian's anndata as one AnnData without X.
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { H5adRowWriter, type RowColumnSpec } from "../../../src/formats/h5ad/row-writer.js";
import { runPython } from "../../helpers/python.js";
import { tempDir } from "../../helpers/temp.js";

const dir = tempDir("h5ad-row-writer-");

const COLUMNS = new Map<string, RowColumnSpec>([
  ["cell_type", { kind: "categorical", categories: ["B", "T"] }],
  ["stage", { kind: "categorical", categories: [10, 20], ordered: true }],
  ["total", { kind: "numeric", dtype: "float64" }],
  ["n_genes", { kind: "numeric", dtype: "int32" }],
  ["keep", { kind: "boolean" }],
  ["barcode", { kind: "string" }],
]);

test("H5adRowWriter: blocks of obs rows and obsm, then var, varm and uns, read by anndata", async () => {
  const path = join(dir, "rows.h5ad");
  const writer = await H5adRowWriter.create(path, COLUMNS);
  const block = (names: string[], offset: number) => ({
    index: names,
    columns: new Map<string, ArrayLike<number> | string[]>([
      ["cell_type", names.map((_, i) => ((i + offset) % 3) - 1)],
      ["stage", names.map((_, i) => (i + offset) % 2)],
      ["total", names.map((_, i) => (i + offset) * 1.5)],
      ["n_genes", names.map((_, i) => i + offset)],
      ["keep", names.map((_, i) => (i + offset) % 2)],
      ["barcode", names.map((name) => `${name}-é`)],
    ]),
    obsm: {
      X_pca: {
        format: "dense" as const,
        nRows: names.length,
        nCols: 2,
        data: Float32Array.from({ length: 2 * names.length }, (_, j) => offset * 2 + j),
      },
    },
  });
  writer.appendRows(block(["c0", "c1", "c2"], 0));
  writer.appendRows(block(["c3", "c4"], 3));
  assert.equal(writer.nObs, 5);
  assert.ok(!existsSync(path), "nothing under the name before finish");
  await writer.finish({
    var: { index: ["g0", "g1", "g2"] },
    varm: { PCs: { format: "dense", nRows: 3, nCols: 2, data: new Float32Array([1, 2, 3, 4, 5, 6]) } },
    uns: { pca: { variance: new Float64Array([2, 1]) } },
  });
  assert.deepEqual(
    readdirSync(dir).filter((name) => name.endsWith(".tmp")),
    [],
  );
  const read = runPython(
    `
import json, sys, anndata
a = anndata.read_h5ad(sys.argv[1])
print(json.dumps({
  "shape": list(a.shape), "x": a.X is None, "obs_names": list(a.obs_names), "columns": list(a.obs.columns),
  "cell_type": [None if isinstance(v, float) else v for v in a.obs["cell_type"].astype(object)],
  "categories": list(a.obs["cell_type"].cat.categories), "stage_ordered": bool(a.obs["stage"].cat.ordered),
  "stage": [int(v) for v in a.obs["stage"]], "total": a.obs["total"].tolist(), "n_genes": a.obs["n_genes"].tolist(),
  "keep": a.obs["keep"].tolist(), "barcode": a.obs["barcode"].tolist(),
  "X_pca": a.obsm["X_pca"].tolist(), "PCs": a.varm["PCs"].tolist(), "variance": a.uns["pca"]["variance"].tolist(),
}))
`,
    null,
    [path],
  );
  assert.deepEqual(read, {
    shape: [5, 3],
    x: true,
    obs_names: ["c0", "c1", "c2", "c3", "c4"],
    columns: ["cell_type", "stage", "total", "n_genes", "keep", "barcode"],
    cell_type: [null, "B", "T", null, "B"],
    categories: ["B", "T"],
    stage_ordered: true,
    stage: [10, 20, 10, 20, 10],
    total: [0, 1.5, 3, 4.5, 6],
    n_genes: [0, 1, 2, 3, 4],
    keep: [0, 1, 0, 1, 0],
    barcode: ["c0-é", "c1-é", "c2-é", "c3-é", "c4-é"],
    X_pca: [
      [0, 1],
      [2, 3],
      [4, 5],
      [6, 7],
      [8, 9],
    ],
    PCs: [
      [1, 2],
      [3, 4],
      [5, 6],
    ],
    variance: [2, 1],
  });
});

test("H5adRowWriter: abort leaves nothing; a code outside the categories names the column", async () => {
  const path = join(dir, "aborted.h5ad");
  const writer = await H5adRowWriter.create(
    path,
    new Map([["t", { kind: "categorical", categories: ["a"] }]]),
  );
  assert.throws(
    () => writer.appendRows({ index: ["x"], columns: new Map([["t", [3]]]), obsm: {} }),
    /obs column 't' has code 3 at row 0, outside \[-1, 1\)/,
  );
  await writer.abort();
  assert.ok(!existsSync(path));
  assert.deepEqual(
    readdirSync(dir).filter((name) => name.startsWith(".aborted")),
    [],
  );
});
