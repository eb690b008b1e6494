import assert from "node:assert/strict";
import { ArgumentError } from "../../../src/errors.js";
import { ones, sum } from "../../../src/tensor/index.js";
import { dropout, dropoutMask } from "../../../src/tensor/ops/dropout.js";
import { Generator } from "../../../src/tensor/random.js";
import { test } from "../../helpers/backends.js";
import { assertGradients, input } from "../helpers.js";

test("p = 0 or evaluation returns x itself and draws nothing", () => {
  const x = input([3, 4], 1);
  const g = new Generator(5);
  const before = g.getState();
  assert.equal(dropout(x, 0, true, g), x);
  assert.equal(dropout(x, 0.5, false, g), x);
  assert.deepEqual(g.getState(), before);
});

test("kept elements are scaled by 1/(1-p), the keep rate is 1-p, and the mean is preserved", () => {
  const n = 200_000;
  const p = 0.3;
  const y = dropout(ones([n], { dtype: "float64" }), p, true, new Generator(11));
  let kept = 0;
  for (const v of y.data) {
    if (v !== 0) {
      kept++;
      assert.equal(v, 1 / (1 - p));
    }
  }
  // binomial standard deviation of the kept fraction: sqrt(p (1 - p) / n) ~ 1e-3; allow 5 sigma
  const sigma = Math.sqrt((p * (1 - p)) / n);
  assert.ok(Math.abs(kept / n - (1 - p)) < 5 * sigma, `keep rate ${kept / n}`);
  assert.ok(Math.abs(sum(y).item() / n - 1) < (5 * sigma) / (1 - p));
});

test("the mask follows the documented rule on the generator's 32-bit words", () => {
  const p = 0.25;
  const size = 9;
  const mask = dropoutMask(new Generator(3), size, p);
  const words = new Generator(3);
  const threshold = Math.round(p * 65536);
  const expected: number[] = [];
  for (let i = 0; i < size; i += 2) {
    const w = words.nextUint32();
    expected.push((w & 0xffff) >= threshold ? 1 : 0);
    if (i + 1 < size) expected.push(w >>> 16 >= threshold ? 1 : 0);
  }
  assert.deepEqual([...mask], expected);
  // the same generator state gives the same mask; different seeds differ
  const x = input([64], 2);
  assert.deepEqual(
    dropout(x, 0.5, true, new Generator(8)).data,
    dropout(x, 0.5, true, new Generator(8)).data,
  );
  assert.notDeepEqual(
    dropout(x, 0.5, true, new Generator(8)).data,
    dropout(x, 0.5, true, new Generator(9)).data,
  );
});

test("p = 1 gives zeros; p outside [0, 1] and int32 inputs throw", () => {
  const x = input([5], 4);
  assert.deepEqual([...dropout(x, 1, true, new Generator(0)).data], [0, 0, 0, 0, 0]);
  assert.throws(() => dropout(x, 1.5, true, new Generator(0)), ArgumentError);
  assert.throws(() => dropout(x, -0.1, false, new Generator(0)), ArgumentError);
  assert.throws(() => dropout(ones([2], { dtype: "int32" }), 0.5, true, new Generator(0)), ArgumentError);
});

test("the gradient flows through the same mask and scale (gradcheck with a fixed generator state)", () => {
  const state = new Generator(21).getState();
  const x = input([4, 5], 6);
  assertGradients((t) => dropout(t, 0.4, true, Generator.fromState(state)), [x]);
  // and it is exactly mask * scale times the upstream gradient
  const y = dropout(x, 0.4, true, Generator.fromState(state));
  y.backward(ones([4, 5], { dtype: "float64" }));
  for (let i = 0; i < x.size; i++) assert.equal(x.grad!.data[i], y.data[i] === 0 ? 0 : 1 / 0.6);
});
