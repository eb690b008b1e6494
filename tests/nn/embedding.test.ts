import assert from "node:assert/strict";
import { ArgumentError } from "../../src/errors.js";
import { Embedding } from "../../src/nn/index.js";
import { ones, tensor } from "../../src/tensor/index.js";
import { Generator } from "../../src/tensor/random.js";
import { test } from "../helpers/backends.js";
import { assertClose, assertGradients } from "../tensor/helpers.js";

const ids = tensor([3, 1, 0, 3, 4], { dtype: "int32", shape: [5] });

test("Embedding looks up rows; the padding row starts at zero and gets no gradient", () => {
  const emb = new Embedding(5, 3, { generator: new Generator(1), paddingIdx: -2, dtype: "float64" });
  assert.equal(emb.paddingIdx, 3);
  assertClose(emb.weight.data.subarray(9, 12), [0, 0, 0], 0);
  const y = emb.forward(ids);
  assert.deepEqual(y.shape, [5, 3]);
  for (const [i, k] of [3, 1, 0, 3, 4].entries())
    assertClose(y.data.subarray(3 * i, 3 * i + 3), emb.weight.data.subarray(3 * k, 3 * k + 3), 0);
  y.backward(ones([5, 3], { dtype: "float64" }));
  assertClose(emb.weight.grad!.data, [1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1], 0);
  assert.throws(() => new Embedding(5, 3, { generator: new Generator(1), paddingIdx: 5 }), ArgumentError);
});

test("Embedding's initial table is standard normal (torch's default)", () => {
  const emb = new Embedding(1000, 100, { generator: new Generator(2) });
  let s = 0;
  let sq = 0;
  for (const v of emb.weight.data) {
    s += v;
    sq += v * v;
  }
  const n = emb.weight.size;
  assert.ok(Math.abs(s / n) < 0.02 && Math.abs(sq / n - 1) < 0.02);
});

test("gradients through an Embedding module in float64", () => {
  const emb = new Embedding(5, 2, { generator: new Generator(3), dtype: "float64" });
  assertGradients(
    (w) => {
      assert.equal(w, emb.weight);
      return emb.forward(ids);
    },
    [emb.weight],
  );
});
