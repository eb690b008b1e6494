import assert from "node:assert/strict";
import { ArgumentError } from "../../src/errors.js";
import { gradcheck, mul, sum, Tensor, tensor } from "../../src/tensor/index.js";
import { record } from "../../src/tensor/tensor.js";
import { test } from "../helpers/backends.js";
import { input } from "./helpers.js";

// x^2 with a deliberately wrong gradient 2x + 0.01 at one element.
function wrongSquare(x: Tensor): Tensor {
  const out = new Float64Array(x.size);
  x.data.forEach((v, i) => {
    out[i] = v * v;
  });
  return record("wrongSquare", new Tensor(out, x.shape), [x], (g) => {
    const gx = new Float64Array(x.size);
    x.data.forEach((v, i) => {
      gx[i] = g.data[i]! * (2 * v + (i === 2 ? 0.01 : 0));
    });
    return [new Tensor(gx, x.shape)];
  });
}

test("gradcheck passes a correct gradient and leaves grads as they were", () => {
  const x = input([2, 3], 1);
  const result = gradcheck((a) => mul(a, a), [x]);
  assert.ok(result.ok, result.report);
  assert.equal(x.grad, null);
});

test("gradcheck fails a wrong gradient and names the worst element", () => {
  const x = input([2, 2], 2);
  const result = gradcheck(wrongSquare, [x]);
  assert.equal(result.ok, false);
  assert.match(result.report, /input 0 \[2, 2\] at \[1, 0\]/);
});

test("gradcheck demands float64 inputs and at least one input requiring grad", () => {
  assert.throws(() => gradcheck((a) => sum(a), [tensor([1, 2], { requiresGrad: true })]), ArgumentError);
  assert.throws(() => gradcheck((a) => sum(a), [tensor([1, 2], { dtype: "float64" })]), ArgumentError);
});
