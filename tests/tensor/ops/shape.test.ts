import assert from "node:assert/strict";
import { ArgumentError } from "../../../src/errors.js";
import {
  arange,
  concat,
  expand,
  flatten,
  permute,
  reshape,
  slice,
  squeeze,
  stack,
  tensor,
  transpose,
  unsqueeze,
  view,
} from "../../../src/tensor/index.js";
import { test } from "../../helpers/backends.js";
import { assertGradients, input } from "../helpers.js";

test("reshape and view share the buffer and infer one -1 axis", () => {
  const x = arange(6);
  const r = reshape(x, [2, -1]);
  assert.deepEqual(r.shape, [2, 3]);
  assert.equal(r.data, x.data);
  assert.deepEqual(view(x, [3, 2]).shape, [3, 2]);
  assert.throws(() => reshape(x, [4, -1]), ArgumentError);
  assert.throws(() => reshape(x, [-1, -1]), ArgumentError);
  assert.deepEqual(flatten(reshape(x, [1, 2, 3]), 1).shape, [1, 6]);
});

test("squeeze and unsqueeze add and remove size-1 axes", () => {
  const x = reshape(arange(6), [1, 2, 1, 3]);
  assert.deepEqual(squeeze(x).shape, [2, 3]);
  assert.deepEqual(squeeze(x, 2).shape, [1, 2, 3]);
  assert.throws(() => squeeze(x, 1), ArgumentError);
  assert.deepEqual(unsqueeze(arange(3), 0).shape, [1, 3]);
  assert.deepEqual(unsqueeze(arange(3), -1).shape, [3, 1]);
});

test("permute and transpose copy into the new layout", () => {
  // x[b][s][h] = 100 b + 10 s + h
  const values = [];
  for (let b = 0; b < 2; b++)
    for (let s = 0; s < 3; s++) for (let h = 0; h < 4; h++) values.push(100 * b + 10 * s + h);
  const x = tensor(values, { shape: [2, 3, 4] });
  const p = permute(x, [2, 0, 1]);
  assert.deepEqual(p.shape, [4, 2, 3]);
  for (let h = 0; h < 4; h++) {
    for (let b = 0; b < 2; b++) {
      for (let s = 0; s < 3; s++) assert.equal(p.data[(h * 2 + b) * 3 + s], 100 * b + 10 * s + h);
    }
  }
  assert.deepEqual(transpose(tensor([[1, 2, 3]])).toArray(), [[1], [2], [3]]);
  assert.throws(() => permute(x, [0, 0, 1]), ArgumentError);
});

test("the (b, s, h, d) -> (b, h, s, d) attention permutation moves every element", () => {
  const shape = [2, 5, 3, 4];
  const x = reshape(arange(120), shape);
  const p = permute(x, [0, 2, 1, 3]);
  for (let b = 0; b < 2; b++)
    for (let s = 0; s < 5; s++)
      for (let h = 0; h < 3; h++)
        for (let d = 0; d < 4; d++) {
          assert.equal(p.data[((b * 3 + h) * 5 + s) * 4 + d], ((b * 5 + s) * 3 + h) * 4 + d);
        }
});

test("slice takes Python-style ranges with steps on any axis", () => {
  const x = reshape(arange(12), [3, 4]);
  assert.deepEqual(slice(x, 1, 1, 3).toArray(), [
    [1, 2],
    [5, 6],
    [9, 10],
  ]);
  assert.deepEqual(slice(x, 0, -2).toArray(), [
    [4, 5, 6, 7],
    [8, 9, 10, 11],
  ]);
  assert.deepEqual(slice(x, 1, 0, undefined, 2).toArray(), [
    [0, 2],
    [4, 6],
    [8, 10],
  ]);
  assert.deepEqual(slice(x, 0, 5).shape, [0, 4]);
  assert.throws(() => slice(x, 0, 0, 2, 0), ArgumentError);
});

test("expand, concat and stack", () => {
  assert.deepEqual(expand(tensor([[1], [2]]), [2, 3]).toArray(), [
    [1, 1, 1],
    [2, 2, 2],
  ]);
  assert.deepEqual(expand(tensor([1, 2]), [2, -1]).toArray(), [
    [1, 2],
    [1, 2],
  ]);
  assert.throws(() => expand(tensor([1, 2]), [3]), ArgumentError);
  const a = tensor([
    [1, 2],
    [3, 4],
  ]);
  const b = tensor([[5], [6]]);
  assert.deepEqual(concat([a, b], 1).toArray(), [
    [1, 2, 5],
    [3, 4, 6],
  ]);
  assert.deepEqual(concat([a, tensor([[7, 8]])], 0).toArray(), [
    [1, 2],
    [3, 4],
    [7, 8],
  ]);
  assert.throws(() => concat([a, b], 0), ArgumentError);
  assert.deepEqual(stack([tensor([1, 2]), tensor([3, 4])], 1).toArray(), [
    [1, 3],
    [2, 4],
  ]);
});

test("gradients of shape ops", () => {
  const x = input([2, 3, 4], 3);
  assertGradients((t) => reshape(t, [4, -1]), [x]);
  assertGradients((t) => unsqueeze(squeeze(reshape(t, [2, 1, 12])), 0), [x]);
  assertGradients((t) => permute(t, [2, 0, 1]), [x]);
  assertGradients((t) => transpose(t, 0, 2), [x]);
  for (let axis = 0; axis < 3; axis++) {
    assertGradients((t) => slice(t, axis, 1, undefined, 2), [x]);
    assertGradients((t) => slice(t, axis, 0, -1), [x]);
  }
  assertGradients((t) => expand(t, [5, 2, 3, 4]), [x]);
  assertGradients((t) => expand(t, [2, 3, 4]), [input([2, 1, 4], 4)]);
  const y = input([2, 2, 4], 5);
  const z = input([2, 3, 4], 6);
  assertGradients((a, b) => concat([a, b], 1), [x, y]);
  assertGradients((a, b) => stack([a, b], 2), [x, z]);
});
