import { test } from "node:test";
import { laplaceLogProb, normalLogProb, tensor } from "../../../src/tensor/index.js";
import { assertClose, assertGradients, input } from "../helpers.js";

const xs = [-2, -0.3, 0, 1.7];

test("normal and Laplace log densities match their formulas", () => {
  const x = tensor(xs, { dtype: "float64" });
  assertClose(
    normalLogProb(x, 0.5, 2).data,
    xs.map((v) => -((v - 0.5) ** 2) / 8 - Math.log(2) - 0.5 * Math.log(2 * Math.PI)),
  );
  assertClose(
    laplaceLogProb(x, 0.5, 2).data,
    xs.map((v) => -Math.abs(v - 0.5) / 2 - Math.log(4)),
  );
  const loc = tensor([[0], [1]], { dtype: "float64" });
  const scale = tensor([1, 2, 3, 4], { dtype: "float64" });
  const lp = laplaceLogProb(x, loc, scale);
  for (let r = 0; r < 2; r++) {
    for (let j = 0; j < 4; j++) {
      const expected = -Math.abs(xs[j]! - r) / (j + 1) - Math.log(2 * (j + 1));
      assertClose([lp.data[r * 4 + j]!], [expected]);
    }
  }
});

test("gradients of log densities in value, location and scale, with broadcasting", () => {
  const x = input([2, 3], 1);
  const loc = input([3], 2);
  const scale = input([2, 1], 3, [0.5, 2]);
  assertGradients(normalLogProb, [x, loc, scale]);
  assertGradients(laplaceLogProb, [x, loc, scale]);
  assertGradients((v) => laplaceLogProb(v, 0, 1.5), [x]);
});
