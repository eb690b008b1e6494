import assert from "node:assert/strict";
import { ArgumentError } from "../../../src/errors.js";
import {
  argmax,
  argmin,
  logsumexp,
  max,
  mean,
  min,
  sum,
  tensor,
  variance,
} from "../../../src/tensor/index.js";
import { test } from "../../helpers/backends.js";
import { assertClose, assertGradients, input } from "../helpers.js";

// x[i][j][k] = 100 i + 10 j + k, shape (2, 3, 4)
const cube = () =>
  tensor(
    Array.from({ length: 24 }, (_, f) => 100 * Math.floor(f / 12) + 10 * Math.floor((f % 12) / 4) + (f % 4)),
    { shape: [2, 3, 4], dtype: "float64" },
  );

test("sum over each axis, several axes and all, with and without keepdim", () => {
  const x = cube();
  assert.equal(sum(x).item(), 12 * 100 + 8 * 30 + 6 * 6);
  assert.deepEqual(sum(x, 0).toArray(), [
    [100, 102, 104, 106],
    [120, 122, 124, 126],
    [140, 142, 144, 146],
  ]);
  assert.deepEqual(sum(x, 1).toArray(), [
    [30, 33, 36, 39],
    [330, 333, 336, 339],
  ]);
  assert.deepEqual(sum(x, -1).toArray(), [
    [6, 46, 86],
    [406, 446, 486],
  ]);
  assert.deepEqual(sum(x, [0, 2]).toArray(), [412, 492, 572]);
  assert.deepEqual(sum(x, 1, { keepdim: true }).shape, [2, 1, 4]);
  assert.deepEqual(sum(x, undefined, { keepdim: true }).shape, [1, 1, 1]);
  assert.throws(() => sum(x, 3), ArgumentError);
  assert.throws(() => sum(x, [1, -2]), ArgumentError);
});

test("mean, max, min, variance and logsumexp against direct formulas", () => {
  const x = cube();
  assert.deepEqual(mean(x, 2).toArray(), [
    [1.5, 11.5, 21.5],
    [101.5, 111.5, 121.5],
  ]);
  assert.deepEqual(max(x, [1, 2]).toArray(), [23, 123]);
  assert.deepEqual(min(x, 0).shape, [3, 4]);
  assert.equal(min(x).item(), 0);
  // variance of 0, 1, 2, 3 is 5/3 unbiased, 5/4 biased
  assertClose(variance(x, 2).data, new Array(6).fill(5 / 3));
  assertClose(variance(x, 2, { correction: 0 }).data, new Array(6).fill(5 / 4));
  const row = tensor([1000, 1001, 999], { dtype: "float64" });
  assertClose([logsumexp(row, 0).item()], [1000 + Math.log(1 + Math.E + 1 / Math.E)]);
  assert.equal(mean(tensor([1, 2], { dtype: "int32" })).item(), 1.5);
});

test("max and min propagate NaN", () => {
  assert.ok(Number.isNaN(max(tensor([1, Number.NaN, 3])).item()));
  assert.ok(Number.isNaN(min(tensor([1, Number.NaN, 3])).item()));
});

test("argmax and argmin return the first extreme along an axis as int32", () => {
  const x = tensor([
    [1, 5, 5, 0],
    [7, 2, 7, -1],
  ]);
  const am = argmax(x, 1);
  assert.equal(am.dtype, "int32");
  assert.deepEqual(am.toArray(), [1, 0]);
  assert.deepEqual(argmin(x, 1).toArray(), [3, 3]);
  assert.deepEqual(argmax(x, 0, { keepdim: true }).toArray(), [[1, 0, 1, 0]]);
});

test("gradients of reductions over each axis, several axes and all", () => {
  const x = input([2, 3, 4], 1);
  for (const axes of [undefined, 0, 1, 2, -1, [0, 2], [0, 1, 2]] as const) {
    for (const keepdim of [false, true]) {
      assertGradients((t) => sum(t, axes, { keepdim }), [x]);
      assertGradients((t) => mean(t, axes, { keepdim }), [x]);
      assertGradients((t) => max(t, axes, { keepdim }), [x]);
      assertGradients((t) => min(t, axes, { keepdim }), [x]);
      assertGradients((t) => variance(t, axes, { keepdim }), [x]);
      assertGradients((t) => logsumexp(t, axes, { keepdim }), [x]);
    }
  }
});

test("max splits the gradient among tied maxima", () => {
  const x = tensor([2, 5, 5, 1], { dtype: "float64", requiresGrad: true });
  max(x).backward();
  assert.deepEqual(Array.from(x.grad!.data), [0, 0.5, 0.5, 0]);
});
