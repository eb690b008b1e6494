import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { CsrMatrix, DenseMatrix } from "../../../src/data/matrix.js";
import { AnnDataFile } from "../../../src/formats/h5ad/reader.js";
import { type AnnDataInput, H5adWriter, writeH5ad } from "../../../src/formats/h5ad/writer.js";
import { tempDir } from "../../helpers/temp.js";
import type { Expected } from "./expected.js";
import { toDense } from "./expected.js";

const dir = tempDir("h5ad-writer-");
const ROOT = join(import.meta.dirname, "..", "..", "..");

// 4 cells x 3 genes; cell 1 is empty.
const X: CsrMatrix = {
  format: "csr",
  nRows: 4,
  nCols: 3,
  indptr: new Int32Array([0, 2, 2, 3, 6]),
  indices: new Int32Array([0, 2, 1, 0, 1, 2]),
  data: new Float32Array([1, 2.5, 3, 4, 5, 6]),
};

const INPUT: AnnDataInput = {
  X,
  obs: {
    index: ["c0", "c1", "c2", "c3"],
    columns: {
      cell_type: { kind: "categorical", codes: [1, 0, -1, 1], categories: ["B", "T"] },
      stage: { kind: "categorical", codes: [0, 1, 2, 0], categories: [10, 20, 30], ordered: true },
      barcode: { kind: "string", values: ["AAC", "ACG", "GGT", "TTA-é"] },
      total: { kind: "numeric", values: new Float64Array([3.5, 0, 3, 15]) },
      n_genes: { kind: "numeric", values: new Int32Array([2, 0, 1, 3]) },
      keep: { kind: "boolean", values: [true, false, true, true] },
    },
  },
  var: { index: ["g0", "g1", "g2"], columns: { symbol: { kind: "string", values: ["A", "B", "C"] } } },
  obsm: { X_pca: { format: "dense", nRows: 4, nCols: 2, data: new Float32Array([1, 2, 3, 4, 5, 6, 7, 8]) } },
  uns: {
    title: "run",
    n: 3,
    alpha: 0.5,
    names: ["x", "y"],
    weights: new Float64Array([0.25, 0.75]),
    nested: { grid: { shape: [2, 2], data: new Float64Array([1, 2, 3, 4]) } },
  },
};

/** anndata's own reading of `path`, described by make-fixtures.py's `describe`. */
function readWithAnndata(path: string): Expected {
  const script = `
import importlib.util, json, sys, warnings
warnings.simplefilter("ignore")
spec = importlib.util.spec_from_file_location("fixtures", sys.argv[1])
fixtures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fixtures)
import anndata
print(json.dumps(fixtures.describe(anndata.read_h5ad(sys.argv[2]))))
`;
  const out = execFileSync(
    "/usr/bin/python3",
    ["-c", script, join(ROOT, "scripts", "make-fixtures.py"), path],
    { encoding: "utf8" },
  );
  return JSON.parse(out) as Expected;
}

test("anndata reads what writeH5ad wrote: X, obs, var, categories, obsm, uns", async () => {
  const path = join(dir, "written.h5ad");
  await writeH5ad(path, INPUT);
  const got = readWithAnndata(path);
  assert.deepEqual(got.X.dense, toDense(X));
  assert.equal(got.X.encoding, "csr_matrix");
  assert.deepEqual(got.obs_names, INPUT.obs.index);
  assert.deepEqual(got.var_names, INPUT.var.index);
  assert.deepEqual(got.obs.column_order, Object.keys(INPUT.obs.columns!));
  assert.deepEqual(got.obs.columns["cell_type"], {
    kind: "categorical",
    ordered: false,
    categories: ["B", "T"],
    codes: [1, 0, -1, 1],
  });
  assert.deepEqual(got.obs.columns["stage"], {
    kind: "categorical",
    ordered: true,
    categories: [10, 20, 30],
    codes: [0, 1, 2, 0],
  });
  assert.deepEqual(got.obs.columns["barcode"], { kind: "string", values: ["AAC", "ACG", "GGT", "TTA-é"] });
  assert.deepEqual(got.obs.columns["total"], { kind: "numeric", dtype: "float64", values: [3.5, 0, 3, 15] });
  assert.deepEqual(got.obs.columns["n_genes"], { kind: "numeric", dtype: "int32", values: [2, 0, 1, 3] });
  // h5wasm cannot create HDF5 enums (h5py's bool): booleans arrive as uint8.
  assert.deepEqual(got.obs.columns["keep"], { kind: "numeric", dtype: "uint8", values: [1, 0, 1, 1] });
  assert.deepEqual(got.var.columns["symbol"], { kind: "string", values: ["A", "B", "C"] });
  assert.deepEqual(got.obsm["X_pca"]!.dense, [
    [1, 2],
    [3, 4],
    [5, 6],
    [7, 8],
  ]);
  assert.deepEqual(got.uns, {
    title: "run",
    n: 3,
    alpha: 0.5,
    names: ["x", "y"],
    weights: { shape: [2], data: [0.25, 0.75] },
    nested: { grid: { shape: [2, 2], data: [1, 2, 3, 4] } },
  });
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.endsWith(".tmp")),
    [],
  );
});

test("our reader reads what writeH5ad wrote (CSR and dense X, gzip)", async () => {
  for (const [name, x, compression] of [
    ["csr.h5ad", X, undefined],
    [
      "dense.h5ad",
      { format: "dense", nRows: 4, nCols: 3, data: Float32Array.from(toDense(X).flat()) } as DenseMatrix,
      "gzip",
    ],
  ] as const) {
    const path = join(dir, name);
    await writeH5ad(path, { ...INPUT, X: x }, { compression });
    const file = await AnnDataFile.open(path);
    try {
      assert.equal(file.xEncoding, x.format === "csr" ? "csr_matrix" : "array");
      assert.deepEqual(toDense(file.readX(0, 4)), toDense(X));
      assert.deepEqual(toDense(file.readX(1, 3)), toDense(X).slice(1, 3));
      assert.deepEqual(file.obsNames(), INPUT.obs.index);
      assert.deepEqual(file.obs.columns, Object.keys(INPUT.obs.columns!));
      assert.deepEqual(file.obs.column("cell_type"), {
        kind: "categorical",
        codes: new Int32Array([1, 0, -1, 1]),
        categories: ["B", "T"],
        ordered: false,
      });
      assert.deepEqual(file.obs.column("stage"), {
        kind: "categorical",
        codes: new Int32Array([0, 1, 2, 0]),
        categories: [10, 20, 30],
        ordered: true,
      });
      assert.deepEqual(file.obs.column("barcode"), {
        kind: "string",
        values: ["AAC", "ACG", "GGT", "TTA-é"],
      });
      assert.deepEqual(file.obs.column("n_genes"), {
        kind: "numeric",
        dtype: "int32",
        values: new Float64Array([2, 0, 1, 3]),
      });
      assert.deepEqual(file.obs.column("keep"), {
        kind: "numeric",
        dtype: "uint8",
        values: new Float64Array([1, 0, 1, 1]),
      });
      assert.deepEqual(toDense(file.obsm("X_pca", 2, 4)), [
        [5, 6],
        [7, 8],
      ]);
      assert.deepEqual(file.uns()["nested"], {
        grid: { shape: [2, 2], data: new Float64Array([1, 2, 3, 4]) },
      });
    } finally {
      file.close();
    }
  }
});

test("H5adWriter appends row blocks (one empty) and equals the whole write", async () => {
  const path = join(dir, "streamed.h5ad");
  const writer = await H5adWriter.create(path, { nVars: 3 });
  const rows = toDense(X);
  for (const [start, end] of [
    [0, 1],
    [1, 1],
    [1, 4],
  ] as const) {
    const block = rows.slice(start, end);
    const indptr = [0];
    const indices: number[] = [];
    const data: number[] = [];
    for (const row of block) {
      row.forEach((v, j) => {
        if (v !== 0) {
          indices.push(j);
          data.push(v);
        }
      });
      indptr.push(indices.length);
    }
    writer.appendX({
      format: "csr",
      nRows: block.length,
      nCols: 3,
      indptr: Int32Array.from(indptr),
      indices: Int32Array.from(indices),
      data: Float32Array.from(data),
    });
  }
  assert.equal(writer.nObs, 4);
  await writer.finish({ obs: INPUT.obs, var: INPUT.var });
  const file = await AnnDataFile.open(path);
  assert.deepEqual(toDense(file.readX(0, 4)), rows);
  file.close();
});

test("a failed write leaves neither the file nor a temporary", async () => {
  const path = join(dir, "bad.h5ad");
  await assert.rejects(writeH5ad(path, { ...INPUT, obs: { index: ["only-one"] } }), {
    name: "ArgumentError",
    message: /obs.index has 1 names for 4 rows of X/,
  });
  await assert.rejects(
    writeH5ad(path, {
      ...INPUT,
      obs: {
        index: INPUT.obs.index,
        columns: { c: { kind: "categorical", codes: [0, 5, 0, 0], categories: ["a"] } },
      },
    }),
    { name: "ArgumentError", message: /column 'c' has code 5 at row 1, outside \[-1, 1\)/ },
  );
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.includes("bad.h5ad")),
    [],
  );
});
