// The AnnData-Zarr row writer against Debian's python3-zarr and anndata 0.8: rows appended across
// chunk boundaries, every column kind, the encoding attributes and consolidated metadata anndata
// and Vitessce read; a store given up or failing leaves nothing at its path.

import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { RowColumnSpec, RowColumnValues } from "../../../src/formats/anndata-rows.js";
import { readZarrSummary } from "../../../src/formats/zarr/reader.js";
import { ZarrRowWriter } from "../../../src/formats/zarr/row-writer.js";
import { runPython } from "../../helpers/python.js";
import { tempDir } from "../../helpers/temp.js";

const dir = tempDir("zarr-rows-");

const COLUMNS = new Map<string, RowColumnSpec>([
  ["cell_type", { kind: "categorical", categories: ["B", "T", "NK"], ordered: true }],
  ["count", { kind: "numeric", dtype: "int64" }],
  ["score", { kind: "numeric", dtype: "float32" }],
  ["kept", { kind: "boolean" }],
  ["note", { kind: "string" }],
]);

/** Rows [r, r + n) of the test store: cell names with a non-ASCII letter, values from the row number. */
function block(r: number, n: number, width: number) {
  const rows = Array.from({ length: n }, (_, i) => r + i);
  const columns = new Map<string, RowColumnValues>([
    ["cell_type", rows.map((i) => (i % 7 === 0 ? -1 : i % 3))],
    ["count", rows.map((i) => i * 1000)],
    ["score", Float32Array.from(rows, (i) => i / 4)],
    ["kept", rows.map((i) => (i % 5 === 0 ? 1 : 0))],
    ["note", rows.map((i) => `n${i}`)],
  ]);
  const data = Float32Array.from({ length: n * width }, (_, k) => r * width + k);
  return {
    index: rows.map((i) => `cellé_${i}`),
    columns,
    obsm: { X_pca: { format: "dense" as const, nRows: n, nCols: width, data } },
  };
}

const CHECK = `
import json, sys, numpy as np, zarr, anndata
args = json.load(sys.stdin)
path, n, w = args["path"], args["n"], args["width"]
g = zarr.open_consolidated(path)
a = anndata.read_zarr(path)
rows = np.arange(n)
ct = a.obs["cell_type"]
expect_codes = np.where(rows % 7 == 0, -1, rows % 3)
res = {
  "shape": list(a.shape), "x_none": a.X is None,
  "root": dict(g.attrs), "obs_attrs": dict(g["obs"].attrs), "ct_attrs": dict(g["obs/cell_type"].attrs),
  "codes_attrs": dict(g["obs/cell_type/codes"].attrs), "index_attrs": dict(g["obs/_index"].attrs),
  "obsm_attrs": dict(g["obsm"].attrs), "pca_attrs": dict(g["obsm/X_pca"].attrs),
  "index_dtype": str(g["obs/_index"].dtype), "chunks": list(g["obsm/X_pca"].chunks),
  "names": bool(list(a.obs_names) == ["cell\\u00e9_%d" % i for i in range(n)]),
  "categories": list(ct.cat.categories), "ordered": bool(ct.cat.ordered),
  "codes": bool(np.array_equal(ct.cat.codes.values, expect_codes)),
  "count": bool(a.obs["count"].dtype == np.int64 and np.array_equal(a.obs["count"].values, rows * 1000)),
  "score": bool(a.obs["score"].dtype == np.float32 and np.array_equal(a.obs["score"].values, rows / 4)),
  "kept": bool(a.obs["kept"].dtype == bool and np.array_equal(a.obs["kept"].values, rows % 5 == 0)),
  "note": bool(list(a.obs["note"]) == ["n%d" % i for i in range(n)]),
  "X_pca": bool(a.obsm["X_pca"].dtype == np.float32 and np.array_equal(a.obsm["X_pca"], np.arange(n * w, dtype=np.float32).reshape(n, w))),
  "var_names": list(a.var_names), "PCs": np.asarray(a.varm["PCs"]).tolist(),
  "uns": {k: (v.tolist() if hasattr(v, "tolist") else {kk: vv.tolist() for kk, vv in v.items()} if isinstance(v, dict) else v) for k, v in a.uns.items()},
  "groups": sorted(g.group_keys()),
}
print(json.dumps(res))
`;

test("ZarrRowWriter: rows across chunk boundaries, every column kind, read by python3-zarr and anndata as written", async () => {
  const path = join(dir, "rows.zarr");
  const width = 3;
  const writer = await ZarrRowWriter.create(path, COLUMNS);
  let r = 0;
  // 4096 rows make a chunk: a block within one, one ending on a boundary, one across two.
  for (const n of [10, 4086, 5000, 1]) {
    await writer.appendRows(block(r, n, width));
    r += n;
  }
  assert.equal(writer.nObs, r);
  assert.equal(existsSync(path), false, "nothing at the path before finish");
  await writer.finish({
    var: { index: ["g1", "g2"] },
    varm: { PCs: { format: "dense", nRows: 2, nCols: width, data: Float32Array.from([1, 2, 3, 4, 5, 6]) } },
    uns: { pca: { variance: Float64Array.from([3, 2, 1]) }, classes: ["B", "T"], note: "hi", n: 4 },
  });
  assert.deepEqual(readdirSync(dir), ["rows.zarr"], "no temporary directory left");
  const res = runPython(CHECK, { path, n: r, width }) as Record<string, unknown>;
  const array = { "encoding-type": "array", "encoding-version": "0.2.0" };
  assert.deepEqual(res, {
    shape: [r, 2],
    x_none: true,
    root: { "encoding-type": "anndata", "encoding-version": "0.1.0" },
    obs_attrs: {
      _index: "_index",
      "column-order": [...COLUMNS.keys()],
      "encoding-type": "dataframe",
      "encoding-version": "0.2.0",
    },
    ct_attrs: { "encoding-type": "categorical", "encoding-version": "0.2.0", ordered: true },
    codes_attrs: array,
    index_attrs: { "encoding-type": "string-array", "encoding-version": "0.2.0" },
    obsm_attrs: { "encoding-type": "dict", "encoding-version": "0.1.0" },
    pca_attrs: array,
    index_dtype: "object",
    chunks: [4096, width],
    names: true,
    categories: ["B", "T", "NK"],
    ordered: true,
    codes: true,
    count: true,
    score: true,
    kept: true,
    note: true,
    X_pca: true,
    var_names: ["g1", "g2"],
    PCs: [
      [1, 2, 3],
      [4, 5, 6],
    ],
    uns: { classes: ["B", "T"], n: 4, note: "hi", pca: { variance: [3, 2, 1] } },
    groups: ["layers", "obs", "obsm", "obsp", "uns", "var", "varm", "varp"],
  });
  // zarrita reads it back through the consolidated metadata (inspect's reader).
  const summary = await readZarrSummary(path);
  assert.equal(summary.nObs, r);
  assert.deepEqual(summary.obs.head, ["cellé_0", "cellé_1", "cellé_2", "cellé_3", "cellé_4"]);
  assert.deepEqual(
    summary.obs.columns.map((c) => [c.name, c.kind, c.dtype ?? c.categories?.join("/") ?? ""]),
    [
      ["cell_type", "categorical", "B/T/NK"],
      ["count", "numeric", "int64"],
      ["score", "numeric", "float32"],
      ["kept", "boolean", ""],
      ["note", "string", ""],
    ],
  );
  assert.deepEqual(summary.obsm, [{ key: "X_pca", shape: [r, width] }]);
  assert.deepEqual(summary.varm, [{ key: "PCs", shape: [2, width] }]);
  assert.deepEqual(summary.uns, ["classes", "n", "note", "pca"]);
});

test("ZarrRowWriter: no rows gives an empty AnnData; a second store replaces the first whole", async () => {
  const path = join(dir, "empty.zarr");
  const first = await ZarrRowWriter.create(path, COLUMNS);
  await first.appendRows(block(0, 3, 2));
  await first.finish({ var: { index: [] } });
  const second = await ZarrRowWriter.create(path, COLUMNS);
  await second.finish({ var: { index: [] } });
  const res = runPython(
    `import json, anndata; a = anndata.read_zarr(${JSON.stringify(path)}); print(json.dumps([list(a.shape), list(a.obs.columns), sorted(a.obsm.keys())]))`,
  );
  assert.deepEqual(res, [[0, 0], [...COLUMNS.keys()], []]);
});

test("ZarrRowWriter: abort or a bad block leaves no store and no temporary directory; an old store stays", async () => {
  const sub = join(dir, "aborted");
  mkdirSync(sub);
  const path = join(sub, "out.zarr");
  const writer = await ZarrRowWriter.create(path, COLUMNS);
  await writer.appendRows(block(0, 5000, 2));
  await assert.rejects(
    writer.appendRows({
      ...block(5000, 2, 2),
      columns: new Map([...block(5000, 2, 2).columns, ["cell_type", [0, 9]]]),
    }),
    /obs column 'cell_type' has code 9 at row 5001, outside \[-1, 3\)/,
  );
  await assert.rejects(writer.appendRows(block(5000, 2, 3)), /obsm 'X_pca' has 3 columns, earlier blocks 2/);
  await writer.abort();
  assert.deepEqual(readdirSync(sub), []);
  // With an earlier store at the path: it is left as it was.
  mkdirSync(path);
  writeFileSync(join(path, ".zgroup"), "previous");
  const again = await ZarrRowWriter.create(path, COLUMNS);
  await again.appendRows(block(0, 5000, 2));
  await again.abort();
  assert.deepEqual(readdirSync(sub), ["out.zarr"]);
  assert.deepEqual(readdirSync(path), [".zgroup"]);
});
