// Shared by the optimizer tests: runs the same fixed gradients through torch.optim and through our
// Optimizer, and compares the parameter trajectories.

import assert from "node:assert/strict";
import { Optimizer } from "../../src/optim/optimizer.js";
import type { BaseOptions, FloatArray, OptimizerRule, OptimParam } from "../../src/optim/types.js";
import { runPython } from "../helpers/python.js";

export interface TorchCase {
  /** torch.optim class name. */
  optimizer: "SGD" | "Adam" | "AdamW";
  dtype: "float32" | "float64";
  /** torch keyword arguments for the defaults and each group (torch has no lrScale: lr is pre-multiplied). */
  defaults: Record<string, unknown>;
  groups: { params: number[][]; options: Record<string, unknown> }[];
  /** grads[step][param]; null = the parameter has no gradient at that step. */
  grads: (number[] | null)[][];
}

const SCRIPT = `
import json, sys, torch
out = []
for case in json.load(sys.stdin):
    dtype = getattr(torch, case["dtype"])
    params, groups = [], []
    for g in case["groups"]:
        ps = [torch.tensor(v, dtype=dtype, requires_grad=True) for v in g["params"]]
        params += ps
        groups.append({"params": ps, **g["options"]})
    opt = getattr(torch.optim, case["optimizer"])(groups, foreach=False, **case["defaults"])
    trace = []
    for grads in case["grads"]:
        for p, g in zip(params, grads):
            p.grad = None if g is None else torch.tensor(g, dtype=dtype)
        opt.step()
        trace.append([p.detach().tolist() for p in params])
    out.append(trace)
print(json.dumps(out))
`;

/** torch's parameter values after each step, per case: [case][step][param][element]. */
export function torchTrajectories(cases: TorchCase[]): number[][][][] {
  return runPython(SCRIPT, cases) as number[][][][];
}

/** A deterministic, irregular gradient sequence (no RNG needed): grads[step][param]. */
export function fixedGrads(sizes: number[], steps: number, seed: number): number[][][] {
  return Array.from({ length: steps }, (_, t) =>
    sizes.map((n, p) =>
      Array.from(
        { length: n },
        (_, i) => Math.sin(seed + 1.7 * t + 0.9 * i + 2.3 * p) * (1 + 0.5 * Math.cos(t * i)),
      ),
    ),
  );
}

export function makeParam(
  values: number[],
  dtype: "float32" | "float64",
): OptimParam & { grad: { data: FloatArray } | null } {
  const data = dtype === "float32" ? Float32Array.from(values) : Float64Array.from(values);
  return { data, grad: null };
}

/** Our trajectory for the same gradients: [step][param][element]. */
export function ourTrajectory<O extends BaseOptions>(
  rule: OptimizerRule<O>,
  dtype: "float32" | "float64",
  defaults: Partial<O>,
  groups: { params: number[][]; options: Partial<O> & { lrScale?: number } }[],
  grads: (number[] | null)[][],
): number[][][] {
  const params = groups.map((g) => g.params.map((v) => makeParam(v, dtype)));
  const optimizer = new Optimizer(
    rule,
    groups.map((g, i) => ({ ...g.options, params: params[i]! })),
    defaults,
  );
  const flat = params.flat();
  return grads.map((stepGrads) => {
    flat.forEach((p, i) => {
      const g = stepGrads[i];
      p.grad = g === null || g === undefined ? null : { data: makeParam(g, dtype).data };
    });
    optimizer.step();
    return flat.map((p) => Array.from(p.data));
  });
}

export function assertClose(actual: number[][][], expected: number[][][], rtol: number, atol: number): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((step, t) => {
    step.forEach((param, p) => {
      param.forEach((a, i) => {
        const e = expected[t]![p]![i]!;
        assert.ok(
          Math.abs(a - e) <= atol + rtol * Math.abs(e),
          `step ${t + 1}, param ${p}, element ${i}: ${a} vs torch ${e}`,
        );
      });
    });
  });
}

/** Our camelCase options as torch keyword arguments (lrScale folded into lr, as it is defined). */
export function torchOptions(options: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (key === "lrScale") continue;
    out[key === "weightDecay" ? "weight_decay" : key] = value;
  }
  if (options["lrScale"] !== undefined)
    out["lr"] = (options["lr"] as number) * (options["lrScale"] as number);
  return out;
}

export interface Comparison<O extends BaseOptions> {
  name: string;
  rule: OptimizerRule<O>;
  torchName: TorchCase["optimizer"];
  dtype: "float32" | "float64";
  defaults: Partial<O>;
  groups: { params: number[][]; options: Partial<O> & { lrScale?: number } }[];
  grads: (number[] | null)[][];
}

/** Runs every comparison through torch in one Python process and checks our trajectories. */
export function compareWithTorch<O extends BaseOptions>(comparisons: Comparison<O>[]): void {
  const expected = torchTrajectories(
    comparisons.map((c) => ({
      optimizer: c.torchName,
      dtype: c.dtype,
      defaults: torchOptions(c.defaults as Record<string, unknown>),
      groups: c.groups.map((g) => ({
        params: g.params,
        options: torchOptions(g.options as Record<string, unknown>),
      })),
      grads: c.grads,
    })),
  );
  comparisons.forEach((c, k) => {
    const actual = ourTrajectory(c.rule, c.dtype, c.defaults, c.groups, c.grads);
    // float64: rounding differences of a few ulps only; float32: torch rounds after every
    // operation, we once per stored value.
    const [rtol, atol] = c.dtype === "float64" ? [1e-10, 1e-13] : [2e-5, 1e-6];
    try {
      assertClose(actual, expected[k]!, rtol, atol);
    } catch (error) {
      throw new Error(`${c.name}: ${(error as Error).message}`);
    }
  });
}
