import assert from "node:assert/strict";
import { ArgumentError } from "../../src/errors.js";
import { Dropout } from "../../src/nn/index.js";
import { dropout, ones } from "../../src/tensor/index.js";
import { Generator } from "../../src/tensor/random.js";
import { test } from "../helpers/backends.js";

test("Dropout applies the dropout op with its generator while training and is the identity in eval", () => {
  const x = ones([1000], { dtype: "float64" });
  const layer = new Dropout(0.25, new Generator(4));
  const y = layer.forward(x);
  assert.deepEqual(y.data, dropout(x, 0.25, true, new Generator(4)).data);
  assert.ok(y.data.every((v) => v === 0 || v === 1 / 0.75));
  // the generator advances: the next mask differs
  assert.notDeepEqual(layer.forward(x).data, y.data);
  assert.equal(layer.eval().forward(x), x);
  assert.deepEqual(layer.namedParameters(), []);
  assert.throws(() => new Dropout(2, new Generator(0)), ArgumentError);
});
