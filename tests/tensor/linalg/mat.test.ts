import assert from "node:assert/strict";
import { test } from "node:test";
import { ArgumentError } from "../../../src/errors.js";
import { matmul, zerosLike } from "../../../src/tensor/linalg/index.js";
import {
  backend,
  backends,
  randomArray,
  referenceGemm,
  relativeError,
  skipUnless,
} from "../../helpers/matrices.js";

for (const which of backends) {
  test(`matmul (${which}) computes op(A) op(B) for every transpose`, skipUnless(which), () => {
    backend(which);
    const [m, n, k] = [4, 3, 5];
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        const a = { rows: transA ? k : m, cols: transA ? m : k, data: randomArray("float64", m * k, 1) };
        const b = { rows: transB ? n : k, cols: transB ? k : n, data: randomArray("float64", k * n, 2) };
        const c = matmul(a, b, transA, transB);
        assert.deepEqual([c.rows, c.cols], [m, n]);
        const expected = referenceGemm(transA, transB, m, n, k, a.data, a.cols, b.data, b.cols);
        assert.ok(relativeError(c.data, expected) < 1e-14);
      }
    }
  });
}

test("matmul rejects mismatched inner dimensions", () => {
  const a = { rows: 2, cols: 3, data: new Float64Array(6) };
  assert.throws(() => matmul(a, a), /matmul: inner dimensions differ, op\(a\) is 2 x 3 and op\(b\) is 2 x 3/);
  assert.throws(() => matmul(a, a), ArgumentError);
});

test("zerosLike keeps the dtype", () => {
  const z = zerosLike(new Float32Array(1), 2, 3);
  assert.ok(z.data instanceof Float32Array);
  assert.deepEqual([z.rows, z.cols, z.data.length], [2, 3, 6]);
});
