import { test } from "node:test";
import { type AdamOptions, adamRule, adamWRule } from "../../src/optim/adam.js";
import { type Comparison, compareWithTorch, fixedGrads } from "./torch-reference.js";

const p0 = [0.5, -1.25, 2, 0.125, -0.75, 3, 1e-3];
const p1 = [1, -2, 0.25];
// Gradients that shrink after step 2, so that amsgrad's running maximum differs from v.
const grads = fixedGrads([7, 3], 6, 4).map((step, t) =>
  step.map((g) => g.map((x) => (t < 2 ? 3 * x : x / (t + 1)))),
);

test("Adam and AdamW match torch.optim: bias corrections, eps, L2 vs decoupled decay, amsgrad, groups", () => {
  const comparisons: Comparison<AdamOptions>[] = [
    {
      name: "Adam, weight decay",
      rule: adamRule,
      torchName: "Adam",
      dtype: "float64",
      defaults: { lr: 0.01, betas: [0.8, 0.95], eps: 1e-3, weightDecay: 0.1 },
      groups: [{ params: [p0, p1], options: {} }],
      grads,
    },
    {
      name: "Adam, amsgrad, no weight decay; second group with its own betas and lrScale",
      rule: adamRule,
      torchName: "Adam",
      dtype: "float64",
      defaults: { lr: 0.01, amsgrad: true, eps: 1e-6 },
      groups: [
        { params: [p0], options: {} },
        { params: [p1], options: { lr: 0.03, betas: [0.5, 0.9], lrScale: 2.5 } },
      ],
      grads,
    },
    {
      name: "Adam, amsgrad and weight decay, a parameter without gradient at step 3",
      rule: adamRule,
      torchName: "Adam",
      dtype: "float64",
      defaults: { lr: 0.02, amsgrad: true, weightDecay: 0.05 },
      groups: [{ params: [p0, p1], options: {} }],
      grads: grads.map((g, t) => (t === 2 ? [g[0]!, null] : g)),
    },
    {
      name: "AdamW, default weight decay, second group amsgrad with larger decay and lrScale",
      rule: adamWRule,
      torchName: "AdamW",
      dtype: "float64",
      defaults: { lr: 0.01 },
      groups: [
        { params: [p0], options: {} },
        { params: [p1], options: { lr: 0.05, weightDecay: 0.5, amsgrad: true, lrScale: 0.5 } },
      ],
      grads,
    },
    {
      name: "float32 Adam with amsgrad and weight decay",
      rule: adamRule,
      torchName: "Adam",
      dtype: "float32",
      defaults: { lr: 0.01, amsgrad: true, weightDecay: 0.01 },
      groups: [{ params: [p0, p1], options: {} }],
      grads,
    },
    {
      name: "float32 AdamW",
      rule: adamWRule,
      torchName: "AdamW",
      dtype: "float32",
      defaults: { lr: 0.01, weightDecay: 0.1 },
      groups: [{ params: [p0, p1], options: {} }],
      grads,
    },
  ];
  compareWithTorch(comparisons);
});
