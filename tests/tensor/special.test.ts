import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { digamma, erf, lgamma, logFactorial, trigamma } from "../../src/tensor/special.js";

/**
 * `expression` of each x, computed by /usr/bin/python3 with math, scipy.special (as special) and
 * mpmath (at 50 digits) imported; values travel as repr() strings, so that inf and nan survive.
 */
function pythonMath(expression: string, xs: number[]): number[] {
  const script =
    "import json, math, sys, mpmath, scipy.special as special\nmpmath.mp.dps = 50\n" +
    `print(json.dumps([repr(float(${expression})) for x in json.load(sys.stdin)]))`;
  const run = spawnSync("/usr/bin/python3", ["-c", script], { input: JSON.stringify(xs), encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
  return (JSON.parse(run.stdout) as string[]).map((v) => Number(v.replace("inf", "Infinity")));
}

/** Asserts |f(x) - reference| <= tol |reference| at every x (equal infinities and NaNs pass). */
function assertRelative(
  name: string,
  f: (x: number) => number,
  xs: number[],
  reference: number[],
  tol: number,
) {
  xs.forEach((x, i) => {
    const r = reference[i]!;
    const v = f(x);
    const ok =
      v === r ||
      Object.is(v, r) ||
      (Number.isNaN(v) && Number.isNaN(r)) ||
      Math.abs(v - r) <= tol * Math.abs(r);
    assert.ok(ok, `${name}(${x}) = ${v}, reference ${r}, relative error ${Math.abs(v - r) / Math.abs(r)}`);
  });
}

// The positive axis from the pole at 0 to 1e8 on a logarithmic grid, a dense linear grid over the
// region where lgamma and digamma cross zero (roots 1, 2 and 1.4616...), the seams between the
// methods (0.5, 1.5, 2.5, 10, the root series' window) and the values the brief names.
const positiveGrid = [
  ...Array.from({ length: 801 }, (_, i) => 10 ** (-12 + i * 0.025)),
  ...Array.from({ length: 1201 }, (_, i) => 0.4 + i * 0.0025 + 1e-9 * i),
  ...[1e-300, 1e-8, 0.5, 1, 2, 10, 1e3, 1e6, 1e15, 1e300],
  ...[0.4999999999, 0.5000000001, 1.4999999999, 1.5000000001, 2.4999999999, 2.5000000001],
  ...[9.999999999, 10.000000001, 0.9116321449683622, 2.0116321449683623, 1e6 + 0.5, 123456.789],
  ...[1 + 1e-10, 1 - 1e-10, 2 + 1e-10, 2 - 1e-10, 1 + 2 ** -52, 2 - 2 ** -51],
  ...[1.4616321449683622, 1.461632144968362, 1.4616321449683625, 1.46163214, 1.46163215],
];

test("lgamma agrees with scipy.special.gammaln to 1e-14 relative on the positive axis", () => {
  // within 0.05 of the roots 1 and 2 scipy's own relative error exceeds 1e-14 (3e-13 at 0.9985);
  // the mpmath test below covers them, to 1e-15
  const xs = positiveGrid.filter((x) => Math.abs(x - 1) > 0.05 && Math.abs(x - 2) > 0.05);
  assertRelative("lgamma", lgamma, xs, pythonMath("special.gammaln(x)", xs), 1e-14);
});

test("lgamma, digamma and trigamma agree with mpmath to 4 ulp (1e-15) on the positive axis", () => {
  // scipy's psi is off by 4e-3 relative at the root of digamma; mpmath at 50 digits is not
  assertRelative("lgamma", lgamma, positiveGrid, pythonMath("mpmath.loggamma(x).real", positiveGrid), 1e-15);
  assertRelative("digamma", digamma, positiveGrid, pythonMath("mpmath.digamma(x)", positiveGrid), 1e-15);
  assertRelative("trigamma", trigamma, positiveGrid, pythonMath("mpmath.psi(1, x)", positiveGrid), 1e-15);
});

test("digamma and trigamma agree with scipy.special.psi and polygamma away from digamma's root", () => {
  const xs = positiveGrid.filter((x) => Math.abs(x - 1.4616321449683622) > 1e-6);
  assertRelative("digamma", digamma, xs, pythonMath("special.psi(x)", xs), 1e-14);
  assertRelative("trigamma", trigamma, xs, pythonMath("special.polygamma(1, x)", xs), 1e-14);
});

test("on the negative axis: reflection formulas, infinities at the poles as torch and scipy", () => {
  // against mpmath: next to the poles scipy's psi is off by 6e-12 (at -0.999999)
  const xs = [-0.5, -1.5, -2.3, -10.7, -1e-8, -0.999999, -3.0000001];
  assertRelative("lgamma", lgamma, xs, pythonMath("mpmath.loggamma(x).real", xs), 1e-14);
  assertRelative("digamma", digamma, xs, pythonMath("mpmath.digamma(x)", xs), 1e-14);
  assertRelative("trigamma", trigamma, xs, pythonMath("mpmath.psi(1, x)", xs), 1e-14);
  const poles = [0, -1, -2, -100];
  for (const x of poles) {
    assert.equal(lgamma(x), Infinity);
    assert.equal(trigamma(x), Infinity);
  }
  assert.equal(digamma(0), -Infinity);
  assert.ok(Number.isNaN(digamma(-3)));
  assert.equal(lgamma(Infinity), Infinity);
  assert.equal(digamma(Infinity), Infinity);
  assert.equal(trigamma(Infinity), 0);
  for (const f of [lgamma, digamma, trigamma]) assert.ok(Number.isNaN(f(Number.NaN)));
});

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
