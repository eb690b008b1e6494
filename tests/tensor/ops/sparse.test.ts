import assert from "node:assert/strict";
import { ArgumentError } from "../../../src/errors.js";
import { csrMatmul } from "../../../src/tensor/ops/sparse.js";
import { Generator } from "../../../src/tensor/random.js";
import { test } from "../../helpers/backends.js";
import { assertClose, assertGradients, input } from "../helpers.js";

// A 5 x 4 CSR matrix with an empty row and a duplicate column entry (which must add up).
const csr = {
  nRows: 5,
  nCols: 4,
  indptr: Int32Array.of(0, 2, 2, 5, 6, 8),
  indices: Int32Array.of(0, 3, 1, 2, 1, 3, 0, 2),
  data: Float64Array.of(1.5, -2, 0.5, 3, 0.25, 4, -1, 2.5),
};

function denseOf(): number[][] {
  const x = Array.from({ length: csr.nRows }, () => new Array<number>(csr.nCols).fill(0));
  for (let i = 0; i < csr.nRows; i++)
    for (let p = csr.indptr[i]!; p < csr.indptr[i + 1]!; p++) x[i]![csr.indices[p]!]! += csr.data[p]!;
  return x;
}

test("csrMatmul equals the dense product, row by row from the definition", () => {
  const w = input([4, 3], 1);
  const x = denseOf();
  const expected: number[] = [];
  for (let i = 0; i < 5; i++)
    for (let j = 0; j < 3; j++) {
      let s = 0;
      for (let g = 0; g < 4; g++) s += x[i]![g]! * w.data[g * 3 + j]!;
      expected.push(s);
    }
  const y = csrMatmul(csr, w);
  assert.deepEqual(y.shape, [5, 3]);
  assertClose(y.data, expected, 1e-12);
  assert.throws(() => csrMatmul(csr, input([3, 3], 2)), ArgumentError);
});

test("csrMatmul's gradient in W matches finite differences", () => {
  assertGradients((w) => csrMatmul(csr, w), [input([4, 3], 3)]);
  // float32 values with float64 weights, as a batch of counts meets the gradient checks.
  const values = new Float32Array(8);
  new Generator(4).fillNormal(values);
  assertGradients((w) => csrMatmul({ ...csr, data: values }, w), [input([4, 2], 5)]);
});
