import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { erf, logFactorial } from "../../src/tensor/special.js";

/** `expression` of each x (Python's math module), computed by /usr/bin/python3. */
function pythonMath(expression: string, xs: number[]): number[] {
  const script = `import json, math, sys; print(json.dumps([${expression} for x in json.load(sys.stdin)]))`;
  const run = spawnSync("/usr/bin/python3", ["-c", script], { input: JSON.stringify(xs), encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout) as number[];
}

test("erf agrees with Python's math.erf to 2e-15 relative on a dense grid, tails and tiny values", () => {
  const xs = Array.from({ length: 4001 }, (_, i) => -7 + i * 0.0035 + 1e-7 * i);
  xs.push(0, 1e-300, 1e-10, -1e-5, 1 / 128, 1 / 256, 5.999, 6, 30);
  const reference = pythonMath("math.erf(x)", xs);
  xs.forEach((x, i) => {
    const r = reference[i]!;
    assert.ok(Math.abs(erf(x) - r) <= 2e-15 * Math.abs(r), `erf(${x}) = ${erf(x)}, math.erf gives ${r}`);
  });
  assert.ok(Number.isNaN(erf(Number.NaN)));
  assert.equal(erf(-Infinity), -1);
});

test("logFactorial agrees with Python's math.lgamma(k + 1) across the table and Stirling's series", () => {
  const ks = [0, 1, 2, 3, 10, 100, 254, 255, 256, 257, 300, 1000, 12345, 1e6, 2 ** 31];
  const reference = pythonMath("math.lgamma(x + 1)", ks);
  ks.forEach((k, i) => {
    const r = reference[i]!;
    assert.ok(
      Math.abs(logFactorial(k) - r) <= 1e-14 * Math.max(1, r),
      `logFactorial(${k}) = ${logFactorial(k)}, lgamma gives ${r}`,
    );
  });
});
