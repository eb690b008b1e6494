import assert from "node:assert/strict";
import { closeSync, fstatSync, openSync } from "node:fs";
import { test } from "node:test";
import { BufferPool } from "../../../src/data/buffer-pool.js";
import { checkBlock } from "../../../src/data/check-block.js";
import type { CsrMatrix } from "../../../src/data/matrix.js";
import { openHdf5 } from "../../../src/formats/h5ad/h5wasm.js";
import { openMatrix } from "../../../src/formats/h5ad/matrix-reader.js";
import { tempDir } from "../../helpers/temp.js";
import { N_ROWS, writeFixtures } from "../hdf5/fixtures.js";

// The matrix reader's direct reads of a CSR group's indices and data (hdf5/), against h5py's
// values and against the same reads through h5wasm, in every layout of the fixtures.

const dir = tempDir("h5ad-direct-");
const { variants, data, indices, indptr } = writeFixtures(dir);

const BLOCKS: [number, number][] = [
  [0, N_ROWS],
  [0, 1],
  [3, 17],
  [17, 18],
  [20, 49],
  [N_ROWS - 1, N_ROWS],
  [10, 10],
];

for (const variant of variants) {
  test(`${variant.name}: CSR row blocks read ${variant.layout ?? "through h5wasm"} equal h5py's and h5wasm's`, async () => {
    const h5 = await openHdf5(variant.path);
    const fd = openSync(variant.path, "r");
    try {
      const raw = { fd, size: fstatSync(fd).size };
      const direct = openMatrix(variant.path, h5, "/X", {}, raw);
      const viaH5wasm = openMatrix(variant.path, h5, "/X", { directReads: false }, raw);
      const indicesLayout = variant.indicesLayout === undefined ? variant.layout : variant.indicesLayout;
      assert.deepEqual(direct.direct, { indices: indicesLayout, data: variant.layout });
      assert.deepEqual(viaH5wasm.direct, { indices: null, data: null });
      const pool = new BufferPool(4);
      for (const [start, end] of BLOCKS) {
        const block = direct.read(start, end, pool) as CsrMatrix;
        const p0 = indptr[start]!;
        const p1 = indptr[end]!;
        assert.deepEqual(block.data, data.subarray(p0, p1), `data of rows [${start}, ${end})`);
        assert.deepEqual(block.indices, indices.subarray(p0, p1), `indices of rows [${start}, ${end})`);
        const other = viaH5wasm.read(start, end) as CsrMatrix;
        assert.deepEqual(Array.from(block.indptr), Array.from(other.indptr));
        // Checked in place: checkBlock finds the same (the fixture's rows hold repeated columns).
        assert.deepEqual(checkBlock(block, variant.name, "X"), checkBlock(other, variant.name, "X"));
        pool.give([block.data.buffer as ArrayBuffer, block.indices.buffer as ArrayBuffer]);
      }
    } finally {
      closeSync(fd);
      h5.close();
    }
  });
}

test("a NaN read directly into a pooled array is found by checkBlock", async () => {
  const variant = variants.find((v) => v.name === "chunked")!;
  const h5 = await openHdf5(variant.path);
  const fd = openSync(variant.path, "r");
  try {
    const reader = openMatrix(variant.path, h5, "/X", {}, { fd, size: fstatSync(fd).size });
    assert.equal(reader.direct?.data, "chunked");
    const pool = new BufferPool(4);
    const first = reader.read(0, 10, pool) as CsrMatrix;
    checkBlock(first, "f", "X");
    first.data[3] = Number.NaN;
    pool.give([first.data.buffer as ArrayBuffer, first.indices.buffer as ArrayBuffer]);
    // Refilled from the file: the NaN written into the pooled buffer is gone, and the scan is the new one.
    const again = reader.read(0, 10, pool) as CsrMatrix;
    assert.ok(again.data.buffer === first.data.buffer || again.data.buffer === first.indices.buffer);
    assert.doesNotThrow(() => checkBlock(again, "f", "X"));
    again.data[2] = Number.NaN;
    assert.throws(() => checkBlock({ ...again, data: again.data.slice() }, "f", "X"), /NaN/);
  } finally {
    closeSync(fd);
    h5.close();
  }
});
