import assert from "node:assert/strict";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { AnnDataFile } from "../../../src/formats/h5ad/reader.js";
import { tempDir } from "../../helpers/temp.js";
import { FIXTURES } from "./expected.js";

const dir = tempDir("h5ad-errors-");

/** One line, naming the file. */
function oneLine(file: string, pattern: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof Error && error.name === "FileFormatError", String(error));
    assert.ok(!error.message.includes("\n"), error.message);
    assert.ok(error.message.includes(file), error.message);
    assert.match(error.message, pattern);
    return true;
  };
}

test("a missing file", async () => {
  const path = join(dir, "absent.h5ad");
  await assert.rejects(AnnDataFile.open(path), oneLine(path, /no such file/));
});

test("a file that is not HDF5", async () => {
  const path = join(dir, "text.h5ad");
  writeFileSync(path, "cell,gene\n1,2\n");
  await assert.rejects(AnnDataFile.open(path), oneLine(path, /cannot open as HDF5/));
});

test("a truncated file", async () => {
  const path = join(dir, "truncated.h5ad");
  const bytes = readFileSync(join(FIXTURES, "full-csr.h5ad"));
  writeFileSync(path, bytes.subarray(0, Math.floor(bytes.length / 2)));
  await assert.rejects(AnnDataFile.open(path), oneLine(path, /HDF5|truncated|layout/));
});

test("HDF5 without AnnData's obs (X may be missing: anndata's X = None)", async () => {
  const notAnnData = join(FIXTURES, "bad", "not-anndata.h5");
  await assert.rejects(AnnDataFile.open(notAnnData), oneLine(notAnnData, /not an AnnData file: no 'obs'/));
  const noObs = join(FIXTURES, "bad", "no-obs.h5ad");
  await assert.rejects(AnnDataFile.open(noObs), oneLine(noObs, /not an AnnData file: no 'obs'/));
});

test("an unsupported encoding-type for X", async () => {
  const original = join(FIXTURES, "bad", "unknown-encoding.h5ad");
  await assert.rejects(
    AnnDataFile.open(original),
    oneLine(original, /\/X has unsupported encoding-type 'awkward-array'/),
  );
});

test("an HDF5 filter no plugin provides", async () => {
  const path = join(FIXTURES, "bad", "unknown-filter.h5ad");
  // X alone: obs/var are absent, so read the dataset through the matrix reader.
  const { openMatrix } = await import("../../../src/formats/h5ad/matrix-reader.js");
  const { openHdf5 } = await import("../../../src/formats/h5ad/h5wasm.js");
  const h5 = await openHdf5(path);
  try {
    const x = openMatrix(path, h5, "/X");
    assert.throws(
      () => x.read(0, 2),
      oneLine(path, /dataset \/X\/data uses HDF5 filters \[lzf \(id 32099\)\]/),
    );
  } finally {
    h5.close();
  }
});

test("an unsupported column encoding names the column; other columns still read", async () => {
  const path = join(dir, "column.h5ad");
  copyFileSync(join(FIXTURES, "bad", "unknown-encoding.h5ad"), path);
  const { openHdf5 } = await import("../../../src/formats/h5ad/h5wasm.js");
  const { AnnDataFrame } = await import("../../../src/formats/h5ad/dataframe.js");
  const h5 = await openHdf5(path);
  try {
    const obs = new AnnDataFrame(path, h5, h5.get("obs") as never);
    assert.throws(
      () => obs.column("weird"),
      oneLine(path, /column \/obs\/weird has unsupported encoding-type 'future-encoding'/),
    );
    assert.equal(obs.index().length, 13);
  } finally {
    h5.close();
  }
});

test("row ranges outside X are argument errors", async () => {
  const file = await AnnDataFile.open(join(FIXTURES, "full-csr.h5ad"));
  try {
    assert.throws(() => file.readX(5, 14), {
      name: "ArgumentError",
      message: /row range \[5, 14\) is outside \[0, 13\]/,
    });
    assert.throws(() => file.readX(3, 2), { name: "ArgumentError" });
    assert.throws(() => file.obsm("X_missing"), {
      name: "ArgumentError",
      message: /no obsm entry 'X_missing'/,
    });
  } finally {
    file.close();
  }
});
