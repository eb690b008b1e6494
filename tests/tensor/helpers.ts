// Shared test helpers for the tensor module: seeded float64 inputs and assertions.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { type GradcheckOptions, gradcheck, rand, randn, type Tensor } from "../../src/tensor/index.js";
import { Generator } from "../../src/tensor/random.js";

/** A float64 leaf requiring grad: standard normal, or uniform on [low, high) when a range is given. */
export function input(shape: number[], seed: number, range?: [number, number]): Tensor {
  const generator = new Generator(seed);
  const options = { dtype: "float64", requiresGrad: true } as const;
  return range === undefined
    ? randn(shape, generator, options)
    : rand(shape, generator, { ...options, low: range[0], high: range[1] });
}

/** Asserts that autograd agrees with finite differences for fn at inputs. */
export function assertGradients(
  fn: (...inputs: Tensor[]) => Tensor,
  inputs: Tensor[],
  options?: GradcheckOptions,
): void {
  const result = gradcheck(fn, inputs, options);
  assert.ok(result.ok, result.report);
}

/** Asserts |actual - expected| <= tol elementwise (and equal lengths). */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-12): void {
  assert.equal(actual.length, expected.length, "lengths differ");
  for (let i = 0; i < actual.length; i++) {
    const ok =
      Math.abs(actual[i]! - expected[i]!) <= tol || (Number.isNaN(actual[i]) && Number.isNaN(expected[i]));
    assert.ok(ok, `element ${i}: ${actual[i]} vs expected ${expected[i]} (tolerance ${tol})`);
  }
}

/**
 * |ours - ref| <= tol * max |ref| elementwise (or below `floor`, the rounding noise of values that
 * are 0 in exact arithmetic), for comparisons with a float32 reference; returns the worst
 * difference relative to that scale.
 */
export function assertRelative(
  what: string,
  ours: ArrayLike<number>,
  ref: ArrayLike<number>,
  tol = 1e-4,
  floor = 0,
): number {
  assert.equal(ours.length, ref.length, `${what}: lengths`);
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < ref.length; i++) {
    scale = Math.max(scale, Math.abs(ref[i]!));
    worst = Math.max(worst, Math.abs(ours[i]! - ref[i]!));
  }
  assert.ok(worst <= Math.max(tol * scale, floor), `${what}: max difference ${worst} vs scale ${scale}`);
  return scale === 0 ? 0 : worst / scale;
}

/** Whether /usr/bin/python3 can import torch (reference computations are skipped without it). */
export const hasTorch = spawnSync("/usr/bin/python3", ["-c", "import torch"]).status === 0;

// The outputs of the scripts run so far, by program and input: a test run once per kernel backend
// (tests/helpers/backends.ts) starts torch once, not twice, for the same reference.
const torchOutputs = new Map<string, string>();

/**
 * Runs a Python script with torch imported and `data` (JSON from stdin) in scope; the script
 * assigns `result`, which comes back as JSON.
 */
export function runTorch(script: string, data: unknown): unknown {
  const program = `import json, sys, torch\ndata = json.load(sys.stdin)\n${script}\nprint(json.dumps(result))`;
  const input = JSON.stringify(data);
  const key = `${program}\n${input}`;
  let output = torchOutputs.get(key);
  if (output === undefined) {
    const run = spawnSync("/usr/bin/python3", ["-c", program], { input, encoding: "utf8" });
    if (run.status !== 0) throw new Error(`python3 failed: ${run.stderr}`);
    output = run.stdout;
    torchOutputs.set(key, output);
  }
  return JSON.parse(output);
}
