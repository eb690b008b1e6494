import assert from "node:assert/strict";
import { ArgumentError } from "../../../src/errors.js";
import { tensor } from "../../../src/tensor/index.js";
import { embedding } from "../../../src/tensor/ops/embedding.js";
import { test } from "../../helpers/backends.js";
import { assertClose, assertGradients, input } from "../helpers.js";

const ids = tensor(
  [
    [2, 0, 2],
    [1, 3, 0],
  ],
  { dtype: "int32" },
);

test("embedding picks rows of the table for ids of any shape", () => {
  const w = input([4, 3], 1);
  const y = embedding(w, ids);
  assert.deepEqual(y.shape, [2, 3, 3]);
  const expected = [2, 0, 2, 1, 3, 0].flatMap((k) => Array.from(w.data.subarray(3 * k, 3 * k + 3)));
  assertClose(y.data, expected, 0);
  assert.throws(() => embedding(w, tensor([4], { dtype: "int32" })), ArgumentError);
  assert.throws(() => embedding(w, tensor([1])), ArgumentError);
});

test("the embedding gradient sums repeated ids and skips the padding row", () => {
  const w = input([4, 3], 2);
  assertGradients((t) => embedding(t, ids), [w]);
  w.grad = null;
  const y = embedding(w, ids, 0);
  y.backward(
    tensor(
      Array.from({ length: 18 }, (_, i) => i + 1),
      { dtype: "float64", shape: [2, 3, 3] },
    ),
  );
  // row 2 gets outputs 0 and 2, row 1 output 3, row 3 output 4; row 0 (padding) nothing
  assertClose(w.grad!.data, [0, 0, 0, 10, 11, 12, 1 + 7, 2 + 8, 3 + 9, 13, 14, 15], 0);
});
