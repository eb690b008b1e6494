import assert from "node:assert/strict";
import { ArgumentError } from "../../../src/errors.js";
import {
  arange,
  cast,
  eye,
  full,
  fullLike,
  ones,
  onesLike,
  rand,
  randn,
  sum,
  tensor,
  zeros,
  zerosLike,
} from "../../../src/tensor/index.js";
import { Generator } from "../../../src/tensor/random.js";
import { test } from "../../helpers/backends.js";
import { assertGradients, input } from "../helpers.js";

test("zeros, ones, full and the *Like variants take shape and dtype (float32 default)", () => {
  assert.equal(zeros([2, 3]).dtype, "float32");
  assert.deepEqual(Array.from(ones([2], { dtype: "int32" }).data), [1, 1]);
  assert.deepEqual(full([2, 2], 7, { dtype: "float64" }).toArray(), [
    [7, 7],
    [7, 7],
  ]);
  const x = tensor([1, 2, 3], { dtype: "float64" });
  assert.equal(zerosLike(x).dtype, "float64");
  assert.deepEqual(Array.from(onesLike(x).data), [1, 1, 1]);
  assert.deepEqual(Array.from(fullLike(x, 2, { dtype: "int32" }).data), [2, 2, 2]);
  assert.ok(zeros([1], { requiresGrad: true }).requiresGrad);
});

test("arange counts like Python's range; eye builds identities", () => {
  assert.deepEqual(Array.from(arange(4).data), [0, 1, 2, 3]);
  assert.deepEqual(Array.from(arange(1, 2, 0.25).data), [1, 1.25, 1.5, 1.75]);
  assert.deepEqual(Array.from(arange(5, 0, -2, { dtype: "int32" }).data), [5, 3, 1]);
  assert.equal(arange(3, 1).size, 0);
  assert.throws(() => arange(0, 1, 0), ArgumentError);
  assert.deepEqual(eye(2, 3).toArray(), [
    [1, 0, 0],
    [0, 1, 0],
  ]);
});

test("tensor reads nested arrays and typed arrays, with an optional shape", () => {
  const t = tensor([
    [1, 2],
    [3, 4],
  ]);
  assert.deepEqual(t.shape, [2, 2]);
  const typed = new Float64Array([1, 2, 3, 4, 5, 6]);
  const u = tensor(typed, { shape: [3, 2] });
  assert.equal(u.dtype, "float64");
  assert.notEqual(u.data, typed);
  assert.throws(() => tensor([[1, 2], [3]]), ArgumentError);
  assert.throws(() => tensor([1, 2, 3], { shape: [2, 2] }), ArgumentError);
  assert.deepEqual(tensor(5).shape, []);
});

test("randn and rand draw from the seeded generator: same seed, same tensor; moments roughly right", () => {
  const a = randn([1000], new Generator(3), { dtype: "float64" });
  const b = randn([1000], new Generator(3), { dtype: "float64" });
  assert.deepEqual(a.data, b.data);
  const m = sum(a).item() / 1000;
  assert.ok(Math.abs(m) < 0.15, `mean ${m}`);
  const u = rand([1000], new Generator(4), { low: 2, high: 3 });
  assert.ok(u.data.every((v) => v >= 2 && v < 3));
});

test("cast converts dtypes (int32 truncates) and is differentiable between floats", () => {
  assert.deepEqual(Array.from(cast(tensor([1.7, -1.7]), "int32").data), [1, -1]);
  const x = input([3], 1);
  assertGradients((t) => cast(cast(t, "float32"), "float64"), [x], { atol: 1e-3, rtol: 1e-3, eps: 1e-3 });
});
