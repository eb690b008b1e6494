import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import type { CsrMatrix } from "../../../src/data/matrix.js";
import type { DataFrameColumn } from "../../../src/formats/h5ad/dataframe.js";
import { AnnDataFile } from "../../../src/formats/h5ad/reader.js";
import type { UnsValue } from "../../../src/formats/h5ad/uns.js";
import { runPython } from "../../helpers/python.js";
import { tempDir } from "../../helpers/temp.js";
import {
  asFloat32,
  type ExpectedColumn,
  type ExpectedFrame,
  expected,
  FIXTURES,
  toDense,
} from "./expected.js";

const NAMES = [
  "full-csr",
  "csc",
  "csc-gzip",
  "csr-gzip",
  "csr-int64",
  "dense-float32",
  "dense-float64",
  "dense-int32",
  "anndata-v0.7.0",
  "anndata-v0.7.8",
];

function compareColumn(column: DataFrameColumn, want: ExpectedColumn, name: string): void {
  assert.equal(column.kind, want.kind, name);
  switch (column.kind) {
    case "categorical":
      assert.deepEqual(Array.from(column.codes), want.codes, name);
      assert.deepEqual(column.categories, want.categories, name);
      assert.equal(column.ordered, want.ordered, name);
      return;
    case "string":
      assert.deepEqual(column.values, want.values, name);
      return;
    case "numeric":
      assert.equal(column.dtype, want.dtype, name);
      assert.deepEqual(
        Array.from(column.values),
        want.values!.map((v) => (v === null ? Number.NaN : v)),
        name,
      );
      return;
    case "boolean":
      assert.deepEqual(Array.from(column.values, Boolean), want.values, name);
      return;
    case "nullable-integer":
    case "nullable-boolean": {
      assert.deepEqual(Array.from(column.mask, Boolean), want.mask, name);
      const values = Array.from(column.values as ArrayLike<number>, (v, i) =>
        column.mask[i] ? null : column.kind === "nullable-boolean" ? Boolean(v) : v,
      );
      assert.deepEqual(values, want.values, name);
    }
  }
}

function compareFrame(frame: AnnDataFile["obs"], want: ExpectedFrame, what: string): void {
  assert.deepEqual(frame.columns, want.column_order, what);
  assert.deepEqual(frame.index(), want.index, what);
  for (const name of frame.columns) compareColumn(frame.column(name), want.columns[name]!, `${what}.${name}`);
}

/** Our uns with typed arrays as plain arrays, to compare with the JSON. */
function plain(value: UnsValue): unknown {
  if (typeof value !== "object" || Array.isArray(value)) return value;
  if ("data" in value && value.data instanceof Float64Array)
    return { shape: value.shape, data: Array.from(value.data) };
  if ("unsupported" in value && typeof value.unsupported === "string") return { unsupported: true };
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v as UnsValue)]));
}

function unsupportedMarks(value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  if ("unsupported" in value) return { unsupported: true };
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unsupportedMarks(v)]));
}

/** The fixtures whose layout the direct reader takes (anndata 0.7 wrote LZF, which h5wasm reads). */
const DIRECT = new Set(NAMES.filter((name) => !name.startsWith("anndata-v0.7")));

for (const name of NAMES) {
  for (const directReads of [true, false]) {
    const reader = directReads && DIRECT.has(name) ? "direct" : "h5wasm";
    test(`${name}.h5ad (${reader}): every field equals what anndata wrote`, async () => {
      const want = expected(name);
      const file = await AnnDataFile.open(join(FIXTURES, `${name}.h5ad`), { directReads });
      assert.equal(file.hdf5Reader, reader);
      try {
        assert.equal(file.nObs, want.n_obs);
        assert.equal(file.nVars, want.n_vars);
        assert.equal(file.xEncoding, want.X.encoding);
        assert.deepEqual(file.obsNames(), want.obs_names);
        assert.deepEqual(file.varNames(), want.var_names);
        const x = file.readX(0, file.nObs);
        assert.equal(x.format, want.X.encoding === "array" ? "dense" : "csr");
        assert.deepEqual(toDense(x), asFloat32(want.X.dense));
        compareFrame(file.obs, want.obs, "obs");
        compareFrame(file.var, want.var, "var");
        for (const [key, m] of Object.entries(want.obsm)) {
          assert.deepEqual(toDense(file.obsm(key)), asFloat32(m.dense), `obsm ${key}`);
        }
        assert.deepEqual(file.layerKeys().sort(), Object.keys(want.layers).sort());
        for (const [key, m] of Object.entries(want.layers)) {
          assert.deepEqual(toDense(file.layer(key)), asFloat32(m.dense), `layer ${key}`);
        }
        assert.deepEqual(plain(file.uns()), unsupportedMarks(want.uns));
      } finally {
        file.close();
      }
    });
  }
}

test("row blocks across block boundaries concatenate to the whole X (CSR, CSC cached and scanned, dense)", async () => {
  for (const [name, options] of [
    ["full-csr", {}],
    ["csc", {}],
    ["csc", { cscCacheMaxNnz: 0 }],
    ["dense-float64", {}],
    ["anndata-v0.7.8", {}],
  ] as const) {
    const file = await AnnDataFile.open(join(FIXTURES, `${name}.h5ad`), options);
    try {
      const whole = toDense(file.readX(0, file.nObs));
      for (const size of [1, 4, 5]) {
        const rows: number[][] = [];
        for (let start = 0; start < file.nObs; start += size) {
          const block = file.readX(start, Math.min(file.nObs, start + size));
          if (block.format === "csr") assertSortedCsr(block);
          rows.push(...toDense(block));
        }
        assert.deepEqual(rows, whole, `${name} blocks of ${size}`);
      }
      assert.equal(file.readX(3, 3).nRows, 0);
    } finally {
      file.close();
    }
  }
});

test("a CSC scan in chunks smaller than a column gives the same rows", async () => {
  const { readCscRows } = await import("../../../src/formats/h5ad/csc.js");
  // 3 x 3, columns: [1 at row 0, 2 at row 2], [], [3 at row 1, 4 at row 2]
  const colPtr = new Float64Array([0, 2, 2, 4]);
  const rowsOf = new Int32Array([0, 2, 1, 2]);
  const values = new Float32Array([1, 2, 3, 4]);
  const source = {
    nRows: 3,
    nCols: 3,
    colPtr,
    readIndices: (s: number, e: number) => rowsOf.slice(s, e),
    readData: (s: number, e: number) => values.slice(s, e),
    where: "test",
  };
  for (const chunk of [1, 3, 8]) {
    const m = readCscRows(source, 1, 3, chunk);
    assert.deepEqual(toDense(m), [
      [0, 0, 3],
      [2, 0, 4],
    ]);
  }
});

function assertSortedCsr(m: CsrMatrix): void {
  assert.equal(m.indptr[0], 0);
  assert.equal(m.indptr[m.nRows], m.indices.length);
  for (let i = 0; i < m.nRows; i++) {
    for (let p = m.indptr[i]! + 1; p < m.indptr[i + 1]!; p++) assert.ok(m.indices[p]! > m.indices[p - 1]!);
  }
}

test("LZF: numeric datasets decode; LZF strings without a size hint fail cleanly and leave h5wasm usable", async () => {
  const want = expected("csr-lzf");
  const file = await AnnDataFile.open(join(FIXTURES, "csr-lzf.h5ad"));
  try {
    assert.deepEqual(toDense(file.readX(0, file.nObs)), asFloat32(want.X.dense));
    assert.throws(() => file.obsNames(), {
      name: "FileFormatError",
      message: /csr-lzf\.h5ad: dataset \/obs\/_index uses HDF5 filter lzf \(id 32000\)/,
    });
  } finally {
    file.close();
  }
  const other = await AnnDataFile.open(join(FIXTURES, "anndata-v0.7.0.h5ad"));
  assert.deepEqual(other.obsNames(), expected("anndata-v0.7.0").obs_names);
  other.close();
});

test("blocks read from the file in pieces (a bounded wasm heap) equal one-piece reads", async () => {
  for (const name of ["full-csr", "dense-float32", "anndata-v0.7.8"]) {
    const whole = await AnnDataFile.open(join(FIXTURES, `${name}.h5ad`));
    const want = toDense(whole.readX(0, whole.nObs));
    whole.close();
    for (const readPieceElements of [1, 3, 7]) {
      const file = await AnnDataFile.open(join(FIXTURES, `${name}.h5ad`), { readPieceElements });
      try {
        assert.deepEqual(
          toDense(file.readX(0, file.nObs)),
          want,
          `${name} in pieces of ${readPieceElements}`,
        );
        assert.deepEqual(toDense(file.readX(1, file.nObs - 1)), want.slice(1, -1));
      } finally {
        file.close();
      }
    }
  }
});

test("bad values and indices in a later piece are found; a row unsorted across a piece boundary is sorted", async () => {
  const dir = tempDir("pieces-");
  // 6 cells x 5 genes, 3 stored values per row at columns (i, i + 1, i + 2) % 5 as scipy stores
  // them (rows 3 and 4 wrap around, so their columns are unsorted), values 10 i + k.
  const [unsorted, nan, index] = runPython(
    `
import json, sys, h5py, numpy as np, anndata as ad, scipy.sparse as sp
out = []
for name, edit in [("unsorted", None), ("nan", ("X/data", 13, "nan")), ("index", ("X/indices", 16, 9))]:
    path = sys.argv[1] + "/" + name + ".h5ad"
    ad.AnnData(X=sp.csr_matrix((6, 5), dtype=np.float32)).write_h5ad(path)
    with h5py.File(path, "r+") as f:
        rows = [[(i + k) % 5 for k in range(3)] for i in range(6)]
        for key in ["data", "indices", "indptr"]:
            del f["X/" + key]
        f["X/indptr"] = np.arange(0, 19, 3, dtype=np.int32)
        f["X/indices"] = np.array(rows, dtype=np.int32).ravel()
        f["X/data"] = np.array([[10 * i + k + 1 for k in range(3)] for i in range(6)], dtype=np.float32).ravel()
        if edit:
            v = f[edit[0]][:]
            v[edit[1]] = float(edit[2]) if edit[2] == "nan" else edit[2]
            f[edit[0]][:] = v
    out.append(path)
print(json.dumps(out))
`,
    null,
    [dir],
  ) as string[];
  const sorted = await AnnDataFile.open(unsorted!, { readPieceElements: 4 });
  try {
    const block = sorted.readX(0, 6) as CsrMatrix;
    assertSortedCsr(block);
    const dense = toDense(block);
    for (let i = 0; i < 6; i++) {
      for (let k = 0; k < 3; k++) assert.equal(dense[i]![(i + k) % 5], 10 * i + k + 1, `cell ${i}, k ${k}`);
    }
  } finally {
    sorted.close();
  }
  for (const [path, message] of [
    [nan!, /nan\.h5ad: X has NaN at cell 4 \(row 4\), gene 0$/],
    [index!, /index\.h5ad: X\/indices holds column 9 at cell 5 \(row 5\), column 9, outside \[0, 5\)$/],
  ] as const) {
    const file = await AnnDataFile.open(path, { readPieceElements: 4 });
    try {
      assert.throws(() => file.readX(0, 6), { message });
    } finally {
      file.close();
    }
  }
});
