import { test } from "node:test";
import { type SgdOptions, sgdRule } from "../../src/optim/sgd.js";
import { type Comparison, compareWithTorch, fixedGrads } from "./torch-reference.js";

const p0 = [0.5, -1.25, 2, 0.125, -0.75, 3, 1e-3];
const p1 = [1, -2, 0.25];
const grads = fixedGrads([7, 3], 5, 1);

test("SGD matches torch.optim.SGD: momentum, nesterov, dampening, weight decay, lrScale, groups", () => {
  const comparisons: Comparison<SgdOptions>[] = [
    {
      name: "nesterov + weight decay, second group with dampening and lrScale",
      rule: sgdRule,
      torchName: "SGD",
      dtype: "float64",
      defaults: { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 },
      groups: [
        { params: [p0], options: {} },
        { params: [p1], options: { lr: 0.2, momentum: 0.5, dampening: 0.1, nesterov: false, lrScale: 0.25 } },
      ],
      grads,
    },
    {
      name: "plain SGD with weight decay",
      rule: sgdRule,
      torchName: "SGD",
      dtype: "float64",
      defaults: { lr: 0.05, weightDecay: 0.1 },
      groups: [{ params: [p0, p1], options: {} }],
      grads,
    },
    {
      name: "momentum, a parameter without gradient at steps 2 and 3 (its buffer must not advance)",
      rule: sgdRule,
      torchName: "SGD",
      dtype: "float64",
      defaults: { lr: 0.1, momentum: 0.8 },
      groups: [{ params: [p0, p1], options: {} }],
      grads: grads.map((g, t) => (t === 1 || t === 2 ? [g[0]!, null] : g)),
    },
    {
      name: "float32 nesterov",
      rule: sgdRule,
      torchName: "SGD",
      dtype: "float32",
      defaults: { lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.01 },
      groups: [{ params: [p0, p1], options: {} }],
      grads,
    },
  ];
  compareWithTorch(comparisons);
});
