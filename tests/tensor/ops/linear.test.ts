import assert from "node:assert/strict";
import { ArgumentError } from "../../../src/errors.js";
import { reshape } from "../../../src/tensor/index.js";
import { linear } from "../../../src/tensor/ops/linear.js";
import { test } from "../../helpers/backends.js";
import { assertClose, assertGradients, input } from "../helpers.js";

// y[r, o] = sum_i x[r, i] w[o, i] + b[o], by the definition.
function naive(
  x: Float64Array,
  w: Float64Array,
  b: Float64Array | null,
  rows: number,
  inF: number,
  outF: number,
) {
  const y: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outF; o++) {
      let s = b === null ? 0 : b[o]!;
      for (let i = 0; i < inF; i++) s += x[r * inF + i]! * w[o * inF + i]!;
      y.push(s);
    }
  }
  return y;
}

test("linear is x W^T + b over the last axis, N-D inputs folded into rows", () => {
  const x = input([2, 3, 4], 1);
  const w = input([5, 4], 2);
  const b = input([5], 3);
  const y = linear(x, w, b);
  assert.deepEqual(y.shape, [2, 3, 5]);
  const ref = naive(x.data as Float64Array, w.data as Float64Array, b.data as Float64Array, 6, 4, 5);
  assertClose(y.data, ref);
  assertClose(linear(x, w).data, naive(x.data as Float64Array, w.data as Float64Array, null, 6, 4, 5));
  assertClose(reshape(linear(reshape(x, [6, 4]), w, b), [2, 3, 5]).data, ref);
  assert.throws(() => linear(x, input([5, 3], 4)), ArgumentError);
  assert.throws(() => linear(x, w, input([4], 5)), ArgumentError);
});

test("gradients of linear in x, weight and bias", () => {
  assertGradients((x, w, b) => linear(x, w, b), [input([2, 3, 4], 6), input([5, 4], 7), input([5], 8)]);
  assertGradients((x, w) => linear(x, w), [input([3, 4], 9), input([2, 4], 10)]);
});
