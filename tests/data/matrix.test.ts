import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type CsrMatrix,
  deferredDense,
  densify,
  inStoredForm,
  isDeferredDense,
  sparsify,
  storedForm,
} from "../../src/data/matrix.js";
import { postedValues, receivedValues } from "../../src/data/read-batch.js";
import { csr, randomCounts, rowsOf } from "../transforms/helpers.js";

const rows = randomCounts(7, 6, 9, 0.3);

test("a deferred dense block reads as the dense block and keeps its CSR form for the steps that handle CSR", () => {
  const x = csr(rows);
  const lazy = deferredDense(x);
  assert.equal(lazy.format, "dense");
  assert.equal(isDeferredDense(lazy), true);
  assert.equal(storedForm(lazy), x);
  assert.deepEqual(lazy.data, densify(x).data);
  // Read twice: computed once.
  assert.equal(lazy.data, lazy.data);
  assert.deepEqual(rowsOf(lazy), rows);
  assert.equal(sparsify(lazy), x);
  // Dense in, dense out; plain blocks are their own stored form.
  const plain = densify(x);
  assert.equal(deferredDense(plain), plain);
  assert.equal(storedForm(plain), plain);
  assert.equal(storedForm(x), x);
  assert.equal(densify(lazy), lazy);
});

test("a copy of a deferred dense block is a plain dense block: new values never pair with a stale CSR form", () => {
  const lazy = deferredDense(csr(rows));
  const copy = { ...lazy };
  assert.equal(isDeferredDense(copy), false);
  assert.deepEqual(copy.data, densify(csr(rows)).data);
  const replaced = { ...lazy, data: new Float32Array(lazy.nRows * lazy.nCols) };
  assert.equal(storedForm(replaced), replaced);
  const cloned = structuredClone(lazy);
  assert.equal(isDeferredDense(cloned), false);
  assert.deepEqual(cloned.data, densify(csr(rows)).data);
});

test("a CSR block with repeated or unsorted columns is densified at once (duplicates add up); a bad index throws", () => {
  const duplicated: CsrMatrix = {
    format: "csr",
    nRows: 1,
    nCols: 3,
    indptr: Int32Array.from([0, 3]),
    indices: Int32Array.from([2, 0, 2]),
    data: Float32Array.from([1, 5, 2]),
  };
  const out = deferredDense(duplicated);
  assert.equal(isDeferredDense(out), false);
  assert.deepEqual([...out.data], [5, 0, 3]);
  assert.throws(
    () => deferredDense({ ...duplicated, indices: Int32Array.from([0, 1, 3]) }),
    /column index 3 at row 0 is outside \[0, 3\)/,
  );
});

test("a worker posts a deferred dense block as its CSR form and the loader restores it", () => {
  const x = csr(rows);
  const posted = postedValues({ x_ng: deferredDense(x), y_n: Int32Array.of(1, 2), raw: x });
  assert.deepEqual(posted.deferred, ["x_ng"]);
  assert.equal(posted.values.x_ng, x);
  assert.equal(posted.values.raw, x);
  const received = receivedValues(structuredClone(posted.values), posted.deferred);
  const x_ng = received.x_ng as ReturnType<typeof deferredDense>;
  assert.equal(isDeferredDense(x_ng), true);
  assert.deepEqual(rowsOf(x_ng), rows);
  assert.equal((received.raw as CsrMatrix).format, "csr");
});

test("inStoredForm keeps a deferred block deferred; a step that changes the structure is checked again", () => {
  const lazy = deferredDense(csr(rows));
  const doubled = inStoredForm(lazy, (m) => ({ ...m, data: m.data.map((v) => 2 * v) }));
  assert.equal(isDeferredDense(doubled), true);
  assert.deepEqual(
    rowsOf(doubled),
    rows.map((row) => row.map((v) => 2 * v)),
  );
  // A step returning a row with a repeated column: densified at once, the repeats added.
  const repeated = inStoredForm(lazy, (m) => ({
    format: "csr",
    nRows: 1,
    nCols: m.nCols,
    indptr: Int32Array.of(0, 2),
    indices: Int32Array.of(1, 1),
    data: Float32Array.of(1, 2),
  }));
  assert.equal(isDeferredDense(repeated), false);
  assert.deepEqual(rowsOf(repeated)[0]!.slice(0, 2), [0, 3]);
  // A plain block goes through f as is.
  const plain = densify(csr(rows));
  assert.equal(
    inStoredForm(plain, (m) => m),
    plain,
  );
});
