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

test("an encoding-version this reader does not know names the element, its encoding-type and version", async () => {
  const path = join(dir, "future-version.h5ad");
  copyFileSync(join(FIXTURES, "full-csr.h5ad"), path);
  const h5wasm = (await import("h5wasm/node")).default;
  await h5wasm.ready;
  const h5 = new h5wasm.File(path, "a");
  for (const element of ["X", "obs/cell_type"]) {
    const entity = h5.get(element) as InstanceType<typeof h5wasm.Group>;
    entity.delete_attribute("encoding-version");
    entity.create_attribute("encoding-version", "9.0.0");
  }
  h5.close();
  await assert.rejects(
    AnnDataFile.open(path),
    oneLine(
      path,
      /\/X has encoding-type 'csr_matrix' at encoding-version '9\.0\.0', which this reader does not know \(it reads 0\.1\.0\)/,
    ),
  );
  const { openHdf5 } = await import("../../../src/formats/h5ad/h5wasm.js");
  const { AnnDataFrame } = await import("../../../src/formats/h5ad/dataframe.js");
  const file = await openHdf5(path);
  try {
    const obs = new AnnDataFrame(path, file, file.get("obs") as never);
    assert.throws(
      () => obs.column("cell_type"),
      oneLine(path, /\/obs\/cell_type has encoding-type 'categorical' at encoding-version '9\.0\.0'/),
    );
  } finally {
    file.close();
  }
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
