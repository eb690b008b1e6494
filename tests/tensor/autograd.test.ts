import assert from "node:assert/strict";
import { ArgumentError } from "../../src/errors.js";
import { add, exp, isGradEnabled, mul, noGrad, sum, tensor } from "../../src/tensor/index.js";
import { test } from "../helpers/backends.js";

const f64 = (values: number[]) => tensor(values, { dtype: "float64", requiresGrad: true });

test("gradients accumulate into leaves over two backward calls until zeroed", () => {
  const x = f64([1, 2, 3]);
  sum(mul(x, x)).backward();
  assert.deepEqual(Array.from(x.grad!.data), [2, 4, 6]);
  sum(mul(x, 3)).backward();
  assert.deepEqual(Array.from(x.grad!.data), [5, 7, 9]);
  x.grad = null;
  sum(x).backward();
  assert.deepEqual(Array.from(x.grad!.data), [1, 1, 1]);
});

test("a tensor used twice receives the sum of both paths' gradients", () => {
  const x = f64([0.5, -1]);
  const y = exp(x);
  // z = y * y + y, dz/dx = (2y + 1) y
  sum(add(mul(y, y), y)).backward();
  const expected = [0.5, -1].map((v) => (2 * Math.exp(v) + 1) * Math.exp(v));
  Array.from(x.grad!.data).forEach((g, i) => {
    assert.ok(Math.abs(g - expected[i]!) < 1e-12);
  });
});

test("backward twice through the same graph doubles the leaf gradient", () => {
  const x = f64([2]);
  const y = mul(x, x);
  y.backward();
  y.backward();
  assert.deepEqual(Array.from(x.grad!.data), [8]);
});

test("non-leaf tensors do not keep gradients", () => {
  const x = f64([1, 2]);
  const y = mul(x, 2);
  sum(y).backward();
  assert.equal(y.grad, null);
  assert.equal(y.isLeaf, false);
  assert.throws(() => {
    y.requiresGrad = false;
  }, ArgumentError);
});

test("noGrad records nothing and restores the previous mode, even after a throw", () => {
  const x = f64([1, 2]);
  const y = noGrad(() => mul(x, x));
  assert.equal(y.requiresGrad, false);
  assert.equal(y.gradFn, null);
  assert.throws(() =>
    noGrad(() => {
      throw new Error("inside");
    }),
  );
  assert.ok(isGradEnabled());
  assert.ok(mul(x, x).requiresGrad);
});

test("detach cuts the graph: no gradient flows through the detached branch", () => {
  const x = f64([3]);
  // z = x * detach(x): dz/dx = detach(x) = 3, not 2x = 6
  sum(mul(x, x.detach())).backward();
  assert.deepEqual(Array.from(x.grad!.data), [3]);
});

test("hooks transform a leaf's gradient before accumulation, in registration order", () => {
  const x = f64([1, 2]);
  x.registerHook((g) => mul(g, 10));
  x.registerHook((g) => add(g, 1));
  sum(mul(x, x)).backward();
  assert.deepEqual(Array.from(x.grad!.data), [21, 41]);
});

test("a hook on a non-leaf scales the gradient passed on to its inputs", () => {
  const x = f64([1, 2]);
  const y = mul(x, 3);
  y.registerHook((g) => mul(g, 0.5));
  sum(y).backward();
  assert.deepEqual(Array.from(x.grad!.data), [1.5, 1.5]);
  assert.throws(() => tensor([1]).registerHook((g) => g), ArgumentError);
});

test("ops on inputs that do not require grad record nothing", () => {
  const y = mul(tensor([1, 2]), tensor([3, 4]));
  assert.equal(y.requiresGrad, false);
  assert.equal(y.gradFn, null);
});
