import assert from "node:assert/strict";
import { ArgumentError } from "../../src/errors.js";
import { Tensor, tensor, zeros } from "../../src/tensor/index.js";
import { test } from "../helpers/backends.js";

test("a tensor wraps its data with a frozen shape and reports size and ndim", () => {
  const data = new Float64Array([1, 2, 3, 4, 5, 6]);
  const t = new Tensor(data, [2, 3]);
  assert.equal(t.dtype, "float64");
  assert.equal(t.size, 6);
  assert.equal(t.ndim, 2);
  assert.equal(t.data, data);
  assert.ok(Object.isFrozen(t.shape));
  assert.deepEqual(t.toArray(), [
    [1, 2, 3],
    [4, 5, 6],
  ]);
});

test("the constructor rejects a data length that does not fill the shape, and bad shapes", () => {
  assert.throws(() => new Tensor(new Float32Array(5), [2, 3]), ArgumentError);
  assert.throws(() => new Tensor(new Float32Array(0), [-1]), ArgumentError);
  assert.throws(() => new Tensor(new Float32Array(2), [1.5, 2]), ArgumentError);
});

test("item reads one-element tensors only; a 0-d tensor is a number in toArray", () => {
  const scalar = tensor([7], { shape: [] });
  assert.equal(scalar.item(), 7);
  assert.equal(scalar.toArray(), 7);
  assert.throws(() => zeros([2]).item(), ArgumentError);
});

test("int32 tensors cannot require grad; float tensors can", () => {
  assert.throws(() => tensor([1, 2], { dtype: "int32" }).requireGrad(), ArgumentError);
  const t = tensor([1, 2]).requireGrad();
  assert.ok(t.requiresGrad);
  assert.ok(t.isLeaf);
});

test("detach shares the data but leaves the graph; clone copies the data", () => {
  const t = tensor([1, 2, 3]).requireGrad();
  const d = t.detach();
  assert.equal(d.data, t.data);
  assert.equal(d.requiresGrad, false);
  const c = t.clone();
  assert.notEqual(c.data, t.data);
  assert.deepEqual(Array.from(c.data), [1, 2, 3]);
});

test("backward needs gradOutput for a non-scalar output and checks its shape and dtype", () => {
  const t = tensor([1, 2, 3], { dtype: "float64" }).requireGrad();
  assert.throws(() => t.backward(), ArgumentError);
  assert.throws(() => t.backward(tensor([1, 1], { dtype: "float64" })), ArgumentError);
  assert.throws(() => t.backward(tensor([1, 1, 1], { dtype: "float32" })), ArgumentError);
  assert.throws(() => tensor([1]).backward(), ArgumentError);
});
