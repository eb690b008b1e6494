// The Zarr reader decodes elements through its encoding registry (src/formats/encodings.ts), as the
// h5ad reader does: known encodings as before, an encoding-version it does not know refused by name.

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import type { RowColumnSpec, RowColumnValues } from "../../../src/formats/anndata-rows.js";
import { readZarrSummary } from "../../../src/formats/zarr/reader.js";
import { ZarrRowWriter } from "../../../src/formats/zarr/row-writer.js";
import { tempDir } from "../../helpers/temp.js";

const dir = tempDir("zarr-reader-");

/** A small store: three cells, a categorical and a numeric obs column, an obsm array. */
async function store(name: string): Promise<string> {
  const path = join(dir, name);
  const columns = new Map<string, RowColumnSpec>([
    ["cell_type", { kind: "categorical", categories: ["B", "T"], ordered: false }],
    ["score", { kind: "numeric", dtype: "float32" }],
  ]);
  const writer = await ZarrRowWriter.create(path, columns);
  await writer.appendRows({
    index: ["c0", "c1", "c2"],
    columns: new Map<string, RowColumnValues>([
      ["cell_type", [0, 1, 0]],
      ["score", Float32Array.from([0.5, 1, 2])],
    ]),
    obsm: { X_pca: { format: "dense", nRows: 3, nCols: 2, data: Float32Array.from([1, 2, 3, 4, 5, 6]) } },
  });
  await writer.finish({ var: { index: ["g1"] } });
  return path;
}

/** Sets an attribute of the element at `key` in its .zattrs and in the consolidated .zmetadata. */
function setAttr(path: string, key: string, name: string, value: string): void {
  const attrs = join(path, key, ".zattrs");
  writeFileSync(attrs, JSON.stringify({ ...JSON.parse(readFileSync(attrs, "utf8")), [name]: value }));
  const consolidated = JSON.parse(readFileSync(join(path, ".zmetadata"), "utf8"));
  const entry = key === "" ? ".zattrs" : `${key}/.zattrs`;
  consolidated.metadata[entry] = { ...consolidated.metadata[entry], [name]: value };
  writeFileSync(join(path, ".zmetadata"), JSON.stringify(consolidated));
}

/** One line, a FileFormatError naming the store. */
function refused(path: string, pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof Error && error.name === "FileFormatError", String(error));
    assert.ok(!error.message.includes("\n"), error.message);
    assert.ok(error.message.startsWith(`${path}: `), error.message);
    assert.match(error.message, pattern);
    return true;
  };
}

test("Zarr reader: known encodings decode as before", async () => {
  const path = await store("known.zarr");
  const summary = await readZarrSummary(path);
  assert.equal(summary.nObs, 3);
  assert.deepEqual(summary.obs.head, ["c0", "c1", "c2"]);
  assert.deepEqual(summary.obs.columns, [
    { name: "cell_type", kind: "categorical", categories: ["B", "T"] },
    { name: "score", kind: "numeric", dtype: "float32" },
  ]);
  assert.deepEqual(summary.obsm, [{ key: "X_pca", shape: [3, 2] }]);
});

test("Zarr reader: an encoding-version it does not know names the store, the element, its encoding-type and version", async () => {
  const cases: [element: string, version: string, message: RegExp][] = [
    [
      "obs/cell_type",
      "9.0.0",
      /\/obs\/cell_type has encoding-type 'categorical' at encoding-version '9\.0\.0', which this reader does not know \(it reads 0\.2\.0\)/,
    ],
    [
      "obs",
      "0.3.0",
      /\/obs has encoding-type 'dataframe' at encoding-version '0\.3\.0'.*\(it reads 0\.1\.0, 0\.2\.0\)/,
    ],
    ["", "0.2.0", /\/ has encoding-type 'anndata' at encoding-version '0\.2\.0'/],
  ];
  for (const [element, version, message] of cases) {
    const path = await store(`future-${element.replace("/", "-") || "root"}.zarr`);
    setAttr(path, element, "encoding-version", version);
    await assert.rejects(readZarrSummary(path), refused(path, message));
  }
});
