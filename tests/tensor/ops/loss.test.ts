import assert from "node:assert/strict";
import { test } from "node:test";
import { ArgumentError } from "../../../src/errors.js";
import { crossEntropy, tensor } from "../../../src/tensor/index.js";
import { assertClose, assertGradients, input } from "../helpers.js";

const logits = [
  [1, 2, 3],
  [0.5, -1, 0],
  [2, 2, 2],
  [10, 0, -10],
];
// -log softmax(x)[t] by the definition
const direct = (row: number[], t: number) => Math.log(row.reduce((a, v) => a + Math.exp(v), 0)) - row[t]!;

test("cross entropy matches -log softmax at the target, mean over non-ignored rows", () => {
  const x = tensor(logits, { dtype: "float64" });
  const t = tensor([2, 0, -100, 1], { dtype: "int32" });
  const perRow = [direct(logits[0]!, 2), direct(logits[1]!, 0), 0, direct(logits[3]!, 1)];
  assertClose(crossEntropy(x, t, { reduction: "none" }).data, perRow, 1e-12);
  assertClose(
    [crossEntropy(x, t, { reduction: "sum" }).item()],
    [perRow[0]! + perRow[1]! + perRow[3]!],
    1e-12,
  );
  assertClose([crossEntropy(x, t).item()], [(perRow[0]! + perRow[1]! + perRow[3]!) / 3], 1e-12);
  const custom = tensor([2, 0, 1, 7], { dtype: "int32" });
  assertClose(
    [crossEntropy(x, custom, { ignoreIndex: 7, reduction: "sum" }).item()],
    [perRow[0]! + perRow[1]! + direct(logits[2]!, 1)],
    1e-12,
  );
});

test("cross entropy over all-ignored targets is NaN with mean, as in torch", () => {
  const x = tensor(logits, { dtype: "float64" });
  assert.ok(Number.isNaN(crossEntropy(x, tensor([-100, -100, -100, -100], { dtype: "int32" })).item()));
});

test("cross entropy validates shapes, dtypes and target range", () => {
  const x = tensor(logits);
  assert.throws(() => crossEntropy(x, tensor([0, 1, 2, 3], { dtype: "int32" })), ArgumentError);
  assert.throws(() => crossEntropy(x, tensor([0, 1, 2, 0])), ArgumentError);
  assert.throws(() => crossEntropy(x, tensor([0, 1], { dtype: "int32" })), ArgumentError);
});

test("gradients of cross entropy for each reduction, with ignored rows", () => {
  const x = input([5, 4], 1);
  const t = tensor([3, -100, 0, 1, 3], { dtype: "int32" });
  for (const reduction of ["mean", "sum", "none"] as const) {
    assertGradients((l) => crossEntropy(l, t, { reduction }), [x]);
  }
  assertGradients(
    (l) => crossEntropy(l, tensor([0, 1, 1, 2, 0], { dtype: "int32" }), { ignoreIndex: 1 }),
    [x],
  );
});
