import assert from "node:assert/strict";
import { test } from "node:test";
import { checkCounts } from "../../src/data/check-counts.js";
import type { CsrMatrix, DenseMatrix } from "../../src/data/matrix.js";

test("valid counts report nothing", () => {
  const m: DenseMatrix = { format: "dense", nRows: 2, nCols: 2, data: new Float32Array([0, 1, 2, 3]) };
  assert.deepEqual(checkCounts(m, "x.h5ad rows 0-2"), { nanCount: 0, negativeCount: 0 });
});

test("NaN and negatives are counted and the first located (dense and CSR)", () => {
  const dense: DenseMatrix = {
    format: "dense",
    nRows: 2,
    nCols: 3,
    data: new Float32Array([0, 1, 2, 3, -1, Number.NaN]),
  };
  assert.deepEqual(checkCounts(dense, "d"), {
    nanCount: 1,
    negativeCount: 1,
    first: { row: 1, col: 1, value: -1 },
  });
  const csr: CsrMatrix = {
    format: "csr",
    nRows: 3,
    nCols: 4,
    indptr: new Int32Array([0, 1, 1, 3]),
    indices: new Int32Array([0, 1, 3]),
    data: new Float32Array([5, Number.NaN, -2]),
  };
  const report = checkCounts(csr, "c");
  assert.equal(report.nanCount, 1);
  assert.equal(report.negativeCount, 1);
  assert.equal(report.first!.row, 2);
  assert.equal(report.first!.col, 1);
  assert.ok(Number.isNaN(report.first!.value));
  assert.throws(() => checkCounts(csr, "data.h5ad rows 100-103", { throwOnError: true }), {
    name: "ArgumentError",
    message: /^data\.h5ad rows 100-103: X holds 1 NaN and 1 negative values \(first NaN at row 2, column 1\)/,
  });
});
