import assert from "node:assert/strict";
import { LayerNorm } from "../../src/nn/index.js";
import { test } from "../helpers/backends.js";
import { assertClose, assertGradients, input } from "../tensor/helpers.js";

test("LayerNorm starts at weight 1, bias 0 and normalizes the last axis with eps", () => {
  const norm = new LayerNorm(4, { eps: 1e-3, dtype: "float64" });
  assertClose(norm.weight!.data, [1, 1, 1, 1], 0);
  assertClose(norm.bias!.data, [0, 0, 0, 0], 0);
  norm.weight!.data.set([1, 2, 3, 4]);
  norm.bias!.data.set([0.5, 0, -0.5, 1]);
  const x = input([3, 4], 1);
  const y = norm.forward(x);
  for (let r = 0; r < 3; r++) {
    const row = Array.from(x.data.subarray(4 * r, 4 * r + 4));
    const m = row.reduce((a, b) => a + b) / 4;
    const v = row.reduce((a, b) => a + (b - m) ** 2, 0) / 4;
    const expected = row.map((xi, j) => ((xi - m) / Math.sqrt(v + 1e-3)) * (j + 1) + [0.5, 0, -0.5, 1][j]!);
    assertClose(y.data.subarray(4 * r, 4 * r + 4), expected);
  }
  const plain = new LayerNorm([2, 3], { elementwiseAffine: false });
  assert.deepEqual(plain.namedParameters(), []);
  assert.deepEqual(plain.normalizedShape, [2, 3]);
});

test("gradients through a LayerNorm module in float64", () => {
  const norm = new LayerNorm(5, { dtype: "float64" });
  norm.weight!.data.set([0.5, 1, 1.5, -1, 2]);
  assertGradients((x) => norm.forward(x), [input([2, 3, 5], 2), norm.weight!, norm.bias!]);
});
