import assert from "node:assert/strict";
import { ArgumentError } from "../../../src/errors.js";
import { arange, matmul, reshape, type Tensor, tensor } from "../../../src/tensor/index.js";
import { test } from "../../helpers/backends.js";
import { assertClose, assertGradients, input } from "../helpers.js";

// Reference product by the definition, with torch.matmul's batch broadcasting, for 2+-D operands.
function naive(a: Tensor, b: Tensor): number[] {
  const [m, k] = a.shape.slice(-2) as [number, number];
  const n = b.shape[b.ndim - 1]!;
  const aBatch = a.size / (m * k);
  const bBatch = b.size / (k * n);
  const batch = Math.max(aBatch, bBatch);
  const out: number[] = [];
  for (let t = 0; t < batch; t++) {
    const ao = (aBatch === 1 ? 0 : t) * m * k;
    const bo = (bBatch === 1 ? 0 : t) * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += a.data[ao + i * k + p]! * b.data[bo + p * n + j]!;
        out.push(s);
      }
    }
  }
  return out;
}

test("2-D products match the definition, float32 and float64", () => {
  const a = input([3, 4], 1);
  const b = input([4, 5], 2);
  const c = matmul(a, b);
  assert.deepEqual(c.shape, [3, 5]);
  assertClose(c.data, naive(a, b), 1e-12);
  const a32 = reshape(arange(6), [2, 3]);
  const b32 = reshape(arange(6), [3, 2]);
  assert.deepEqual(matmul(a32, b32).toArray(), [
    [10, 13],
    [28, 40],
  ]);
});

test("batched products broadcast batch axes; a shared right matrix folds into rows", () => {
  const a = input([2, 3, 4], 3);
  const b = input([4, 2], 4);
  const c = matmul(a, b);
  assert.deepEqual(c.shape, [2, 3, 2]);
  assertClose(c.data, naive(a, b), 1e-12);
  const left = input([3, 4], 5);
  const right = input([2, 4, 5], 6);
  assertClose(matmul(left, right).data, naive(left, right), 1e-12);
  const x = input([2, 1, 3, 4], 7);
  const y = input([5, 4, 2], 8);
  assert.deepEqual(matmul(x, y).shape, [2, 5, 3, 2]);
  assert.throws(() => matmul(input([2, 3], 1), input([2, 3], 2)), ArgumentError);
  assert.throws(
    () => matmul(tensor([1, 2], { dtype: "int32" }), tensor([1, 2], { dtype: "int32" })),
    ArgumentError,
  );
});

test("vector operands follow torch.matmul: dot, matrix-vector, vector-matrix", () => {
  const v = tensor([1, 2, 3]);
  const m = reshape(arange(6), [3, 2]);
  assert.equal(matmul(v, v).item(), 14);
  assert.deepEqual(matmul(v, m).toArray(), [16, 22]);
  assert.deepEqual(matmul(reshape(arange(6), [2, 3]), v).toArray(), [8, 26]);
  assert.deepEqual(matmul(v, reshape(arange(12), [2, 3, 2])).shape, [2, 2]);
});

test("gradients of matmul: 2-D, shared matrix, batch broadcasting both ways, vectors", () => {
  const cases: Array<[number[], number[]]> = [
    [
      [3, 4],
      [4, 2],
    ],
    [
      [2, 3, 4],
      [4, 2],
    ],
    [
      [3, 4],
      [2, 4, 5],
    ],
    [
      [2, 1, 3, 4],
      [3, 4, 2],
    ],
    [
      [1, 3, 4],
      [2, 4, 2],
    ],
    [[4], [4]],
    [[4], [2, 4, 3]],
    [[2, 3, 4], [4]],
  ];
  cases.forEach(([sa, sb], i) => {
    assertGradients(matmul, [input(sa, 10 + i), input(sb, 20 + i)]);
  });
});
