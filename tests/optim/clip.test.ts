import assert from "node:assert/strict";
import { test } from "node:test";
import { clipGradNorm, clipGradValue } from "../../src/optim/clip.js";
import type { OptimParam } from "../../src/optim/types.js";
import { runPython } from "../helpers/python.js";

const gradValues = [[0.5, -3, 2, 0.25], [-1.5, 4], null, [0.75]];

function makeParams(scale: number): OptimParam[] {
  return gradValues.map((g) => ({
    data: new Float64Array(g?.length ?? 2),
    grad: g === null ? null : { data: Float64Array.from(g, (v) => v * scale) },
  }));
}

const SCRIPT = `
import json, sys, torch
out = []
for case in json.load(sys.stdin):
    params = []
    for g in case["grads"]:
        p = torch.zeros(len(g) if g is not None else 2, dtype=torch.float64, requires_grad=True)
        p.grad = None if g is None else torch.tensor(g, dtype=torch.float64) * case["scale"]
        params.append(p)
    if case["kind"] == "norm":
        norm_type = float("inf") if case["normType"] == "inf" else case["normType"]
        total = torch.nn.utils.clip_grad_norm_(params, case["max"], norm_type).item()
    else:
        torch.nn.utils.clip_grad_value_(params, case["max"])
        total = None
    out.append({"total": total, "grads": [None if p.grad is None else p.grad.tolist() for p in params]})
print(json.dumps(out))
`;

test("clipGradNorm and clipGradValue match torch.nn.utils", () => {
  const cases = [
    { kind: "norm", normType: 2, max: 1, scale: 1 },
    { kind: "norm", normType: 2, max: 100, scale: 1 },
    // maxNorm just above the norm sqrt(32.125): scale slightly below 1 because of torch's + 1e-6.
    { kind: "norm", normType: 2, max: Math.sqrt(32.125) + 5e-7, scale: 1 },
    { kind: "norm", normType: 1, max: 2, scale: 0.5 },
    { kind: "norm", normType: 3, max: 0.5, scale: 2 },
    { kind: "norm", normType: "inf", max: 1.5, scale: 1 },
    { kind: "value", max: 1, scale: 1 },
  ];
  const expected = runPython(
    SCRIPT,
    cases.map((c) => ({ ...c, grads: gradValues })),
  ) as { total: number | null; grads: (number[] | null)[] }[];
  cases.forEach((c, k) => {
    const params = makeParams(c.scale);
    const normType = c.normType === "inf" ? Number.POSITIVE_INFINITY : (c.normType as number);
    if (c.kind === "norm") {
      const total = clipGradNorm(params, c.max, normType);
      assert.ok(
        Math.abs(total - expected[k]!.total!) <= 1e-12 * expected[k]!.total!,
        `case ${k}: norm ${total}`,
      );
    } else {
      clipGradValue(params, c.max);
    }
    params.forEach((p, i) => {
      const e = expected[k]!.grads[i]!;
      if (e === null) {
        assert.equal(p.grad, null);
        return;
      }
      p.grad!.data.forEach((v, j) => {
        assert.ok(
          Math.abs(v - e[j]!) <= 1e-12 * Math.max(1, Math.abs(e[j]!)),
          `case ${k}: grad ${i}[${j}] ${v} vs ${e[j]}`,
        );
      });
    });
  });
});

test("clipGradNorm returns 0 without gradients and rejects bad arguments", () => {
  assert.equal(clipGradNorm([{ data: new Float32Array(2), grad: null }], 1), 0);
  assert.throws(() => clipGradNorm([], -1), /clipGradNorm: maxNorm must be >= 0, got -1/);
  assert.throws(() => clipGradNorm([], 1, 0), /clipGradNorm: normType must be > 0 or Infinity, got 0/);
  assert.throws(() => clipGradValue([], Number.NaN), /clipGradValue: clipValue must be >= 0, got NaN/);
});
