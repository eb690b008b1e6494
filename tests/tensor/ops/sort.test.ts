import assert from "node:assert/strict";
import { ArgumentError } from "../../../src/errors.js";
import { argsort, sort, tensor, topk } from "../../../src/tensor/index.js";
import { test } from "../../helpers/backends.js";
import { assertGradients, input } from "../helpers.js";

test("sort is stable with ties, ascending and descending", () => {
  const x = tensor([3, 1, 2, 1, 3, 2]);
  const up = sort(x);
  assert.deepEqual(Array.from(up.values.data), [1, 1, 2, 2, 3, 3]);
  assert.deepEqual(Array.from(up.indices.data), [1, 3, 2, 5, 0, 4]);
  const down = sort(x, { descending: true });
  assert.deepEqual(Array.from(down.values.data), [3, 3, 2, 2, 1, 1]);
  assert.deepEqual(Array.from(down.indices.data), [0, 4, 2, 5, 1, 3]);
  assert.equal(up.indices.dtype, "int32");
});

test("NaN sorts last ascending and first descending, as in torch", () => {
  const x = tensor([2, Number.NaN, 1]);
  assert.deepEqual(Array.from(argsort(x).data), [2, 0, 1]);
  assert.deepEqual(Array.from(argsort(x, { descending: true }).data), [1, 0, 2]);
});

test("sort along a non-last axis sorts each column", () => {
  const x = tensor([
    [3, 0],
    [1, 5],
    [2, 4],
  ]);
  const { values, indices } = sort(x, { axis: 0 });
  assert.deepEqual(values.toArray(), [
    [1, 0],
    [2, 4],
    [3, 5],
  ]);
  assert.deepEqual(indices.toArray(), [
    [1, 0],
    [2, 2],
    [0, 1],
  ]);
});

test("topk gives the k largest or smallest in order, ties by index", () => {
  const x = tensor([
    [1, 9, 3, 9, 5],
    [0, -1, 4, 4, 2],
  ]);
  const largest = topk(x, 3);
  assert.deepEqual(largest.values.toArray(), [
    [9, 9, 5],
    [4, 4, 2],
  ]);
  assert.deepEqual(largest.indices.toArray(), [
    [1, 3, 4],
    [2, 3, 4],
  ]);
  assert.deepEqual(topk(x, 2, { largest: false }).indices.toArray(), [
    [0, 2],
    [1, 0],
  ]);
  assert.deepEqual(topk(x, 1, { axis: 0 }).values.toArray(), [[1, 9, 4, 9, 5]]);
  assert.throws(() => topk(x, 6), ArgumentError);
});

test("gradients flow through sorted values and topk values", () => {
  const x = input([3, 5], 1);
  assertGradients((t) => sort(t).values, [x]);
  assertGradients((t) => sort(t, { axis: 0, descending: true }).values, [x]);
  assertGradients((t) => topk(t, 2).values, [x]);
});
