import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { Generator, philox4x32 } from "../../src/tensor/random.js";
import { test } from "../helpers/backends.js";

const hex = (words: Uint32Array) => [...words].map((w) => w.toString(16).padStart(8, "0")).join(" ");

test("philox4x32-10 matches the Random123 known-answer vectors", () => {
  const out = new Uint32Array(4);
  philox4x32([0, 0, 0, 0], [0, 0], out);
  assert.equal(hex(out), "6627e8d5 e169c58d bc57ac4c 9b00dbd8");
  const max = 0xffffffff;
  philox4x32([max, max, max, max], [max, max], out);
  assert.equal(hex(out), "408f276d 41c83b0e a20bc7c6 6d5451fd");
  philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], out);
  assert.equal(hex(out), "d16cfe09 94fdcceb 5001e420 24126ea1");
});

test("a restored state continues the exact stream, mid-block included", () => {
  const a = new Generator(42);
  a.nextUint32();
  a.nextUint32();
  const state = JSON.parse(JSON.stringify(a.getState()));
  const expected = Array.from({ length: 9 }, () => a.nextUint32());
  const b = Generator.fromState(state);
  assert.deepEqual(
    Array.from({ length: 9 }, () => b.nextUint32()),
    expected,
  );
});

test("different seeds give different streams and the same seed the same stream", () => {
  assert.notDeepEqual(new Generator(1).permutation(50), new Generator(2).permutation(50));
  assert.deepEqual(new Generator(7).permutation(50), new Generator(7).permutation(50));
});

test("uniform and normal draws have the right moments", () => {
  const g = new Generator(123);
  const n = 200_000;
  const u = new Float64Array(n);
  g.fillUniform(u, 2, 5);
  let mean = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of u) {
    mean += v / n;
    min = Math.min(min, v);
    max = Math.max(max, v);
  }
  assert.ok(Math.abs(mean - 3.5) < 0.01, `uniform mean ${mean}`);
  assert.ok(min >= 2 && max < 5);
  const z = new Float32Array(n);
  g.fillNormal(z, 1, 2);
  let m1 = 0;
  let m2 = 0;
  for (const v of z) m1 += v / n;
  for (const v of z) m2 += (v - m1) ** 2 / n;
  assert.ok(Math.abs(m1 - 1) < 0.02, `normal mean ${m1}`);
  assert.ok(Math.abs(Math.sqrt(m2) - 2) < 0.02, `normal std ${Math.sqrt(m2)}`);
});

test("randint is unbiased over a range that does not divide 2^32", () => {
  const g = new Generator(5);
  const counts = new Array(3).fill(0);
  for (let i = 0; i < 30_000; i++) counts[g.randint(0, 3)]++;
  for (const c of counts) assert.ok(Math.abs(c - 10_000) < 400, `counts ${counts}`);
  assert.throws(() => g.randint(3, 3), /randint/);
});

test("permutation is a permutation and every position is uniform", () => {
  const g = new Generator(9);
  const firstCounts = new Array(5).fill(0);
  for (let t = 0; t < 10_000; t++) {
    const p = g.permutation(5);
    assert.deepEqual([...p].sort(), [0, 1, 2, 3, 4]);
    firstCounts[p[0]!]++;
  }
  for (const c of firstCounts) assert.ok(Math.abs(c - 2000) < 200, `first-position counts ${firstCounts}`);
});

test("bernoulli frequency matches p", () => {
  const g = new Generator(11);
  const out = new Uint8Array(100_000);
  g.fillBernoulli(out, 0.15);
  const freq = out.reduce((s, v) => s + v, 0) / out.length;
  assert.ok(Math.abs(freq - 0.15) < 0.005, `frequency ${freq}`);
});

test("fillUint32 continues the stream exactly as nextUint32, from mid-block too", () => {
  const a = new Generator(77);
  const b = new Generator(77);
  a.nextUint32();
  b.nextUint32();
  const bulk = new Uint32Array(11);
  a.fillUint32(bulk);
  assert.deepEqual(
    [...bulk],
    Array.from({ length: 11 }, () => b.nextUint32()),
  );
  assert.equal(a.nextUint32(), b.nextUint32());
});

test("binomial draws follow scipy's binomial pmf (chi-square) on each of its paths: trials, waits, BTRS, p above 1/2", () => {
  const cases: [count: number, p: number][] = [
    [5, 0.3], // Bernoulli trials
    [16, 0.9],
    [40, 0.1], // geometric waits
    [60, 0.85], // waits for the failures
    [1000, 0.3], // BTRS
    [500, 0.97], // BTRS for the failures
    [100_000, 0.5],
  ];
  const g = new Generator(2024);
  const draws = cases.map(([count, p]) => Array.from({ length: 20_000 }, () => g.binomial(count, p)));
  const script = `
import json, sys
import numpy as np
from scipy import stats
out = []
for (n, p), xs in zip(*json.load(sys.stdin)):
    xs = np.asarray(xs)
    ks = np.arange(n + 1)
    pmf = stats.binom.pmf(ks, n, p)
    # bins of at least 5 expected draws, the tails merged into the first and last
    expected = pmf * len(xs)
    observed = np.bincount(xs, minlength=n + 1).astype(float)
    keep = np.flatnonzero(expected >= 5)
    lo, hi = keep[0], keep[-1]
    e = expected[lo:hi + 1].copy(); o = observed[lo:hi + 1].copy()
    e[0] += expected[:lo].sum(); o[0] += observed[:lo].sum()
    e[-1] += expected[hi + 1:].sum(); o[-1] += observed[hi + 1:].sum()
    out.append(float(stats.chisquare(o, e).pvalue))
print(json.dumps(out))
`;
  const pvalues = JSON.parse(
    execFileSync("/usr/bin/python3", ["-c", script], {
      input: JSON.stringify([cases, draws]),
      encoding: "utf8",
    }),
  ) as number[];
  cases.forEach(([count, p], i) => {
    assert.ok(pvalues[i]! > 1e-4, `Binomial(${count}, ${p}): chi-square p-value ${pvalues[i]}`);
    assert.ok(draws[i]!.every((k) => Number.isInteger(k) && k >= 0 && k <= count));
  });
  assert.equal(g.binomial(0, 0.5), 0);
  assert.equal(g.binomial(7, 0), 0);
  assert.equal(g.binomial(7, 1), 7);
});
