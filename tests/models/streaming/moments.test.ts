import assert from "node:assert/strict";
import { test } from "node:test";
import { ArgumentError, CheckpointError } from "../../../src/errors.js";
import { type MomentsAlgorithm, RunningMoments } from "../../../src/models/streaming/moments.js";
import { Generator } from "../../../src/tensor/random.js";
import { runPython } from "../../helpers/python.js";
import { type Columns, column, csrRows, denseRows, normal, poisson, randomBatches } from "./helpers.js";

const ALGORITHMS: MomentsAlgorithm[] = ["naive", "shifted_data"];

/** Exact-as-possible float64 reference: two passes over each column. */
function twoPass(columns: Columns): { mean_g: number[]; var_g: number[] } {
  const mean_g = columns.map((values) => values.reduce((s, x) => s + x, 0) / values.length);
  const var_g = columns.map(
    (values, g) => values.reduce((s, x) => s + (x - mean_g[g]!) ** 2, 0) / values.length,
  );
  return { mean_g, var_g };
}

function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol: number,
  what: string,
): void {
  assert.equal(actual.length, expected.length, what);
  for (let g = 0; g < expected.length; g++) {
    const scale = Math.max(Math.abs(expected[g]!), Number.MIN_VALUE);
    const error = Math.abs(actual[g]! - expected[g]!) / scale;
    assert.ok(error <= rtol, `${what}[${g}]: ${actual[g]} vs ${expected[g]} (relative error ${error})`);
  }
}

/** Sparse counts-like genes, a dense log-normal-like gene, an all-zero gene and a constant gene. */
function mixedColumns(rng: Generator, n: number): Columns {
  return [
    column(rng, n, 0.93, () => 1 + poisson(rng, 2)),
    column(rng, n, 0.5, () => Math.exp(normal(rng))),
    column(rng, n, 0, () => 3 + normal(rng)),
    new Float32Array(n),
    new Float32Array(n).fill(2.5),
    column(rng, n, 0.99, () => 100 * rng.nextDouble()),
  ];
}

function fit(
  columns: Columns,
  algorithm: MomentsAlgorithm,
  batches: [number, number][],
  csr: boolean,
): RunningMoments {
  const moments = new RunningMoments(columns.length, algorithm);
  for (const [start, end] of batches)
    moments.update(csr ? csrRows(columns, start, end) : denseRows(columns, start, end));
  return moments;
}

test("RunningMoments: mean, population variance and std equal a float64 two-pass reference, CSR and dense", () => {
  const rng = new Generator(11);
  const columns = mixedColumns(rng, 5000);
  const batches = randomBatches(rng, 0, 5000, 400);
  const { mean_g, var_g } = twoPass(columns);
  for (const algorithm of ALGORITHMS) {
    const fromCsr = fit(columns, algorithm, batches, true);
    const fromDense = fit(columns, algorithm, batches, false);
    for (const [label, moments] of [
      ["csr", fromCsr],
      ["dense", fromDense],
    ] as const) {
      assert.equal(moments.count, 5000);
      assertClose(moments.mean(), mean_g, 1e-12, `${algorithm} ${label} mean`);
      assertClose(moments.variance(), var_g, 1e-10, `${algorithm} ${label} var`);
      assertClose(moments.std(), var_g.map(Math.sqrt), 1e-10, `${algorithm} ${label} std`);
    }
    assertClose(fromCsr.variance(), fromDense.variance(), 1e-12, `${algorithm} csr vs dense var`);
    // The all-zero and the constant gene come out exactly, not a rounding error below zero.
    assert.equal(fromCsr.variance()[3], 0);
    assert.equal(fromCsr.mean()[4], 2.5);
    assert.equal(fromCsr.std()[4], 0);
  }
});

test("RunningMoments agrees with numpy's mean and var (ddof 0) in float64", () => {
  const rng = new Generator(12);
  const columns = mixedColumns(rng, 600);
  const expected = runPython(
    "import json, sys, numpy as np\n" +
      "x = np.array(json.load(sys.stdin), dtype=np.float64).T\n" +
      "print(json.dumps({'mean': x.mean(0).tolist(), 'var': x.var(0).tolist()}))",
    columns.map((values) => Array.from(values)),
  ) as { mean: number[]; var: number[] };
  for (const algorithm of ALGORITHMS) {
    const moments = fit(columns, algorithm, randomBatches(rng, 0, 600, 64), true);
    assertClose(moments.mean(), expected.mean, 1e-12, `${algorithm} mean`);
    assertClose(moments.variance(), expected.var, 1e-10, `${algorithm} var`);
  }
});

test("RunningMoments.merge of two replicas equals one pass over all cells", () => {
  const rng = new Generator(13);
  const columns = mixedColumns(rng, 4000);
  for (const algorithm of ALGORITHMS) {
    const whole = fit(columns, algorithm, randomBatches(rng, 0, 4000, 300), true);
    // Different first batches give the shifted replicas different shifts.
    const left = fit(columns, algorithm, randomBatches(rng, 0, 1500, 300), true);
    const right = fit(columns, algorithm, randomBatches(rng, 1500, 4000, 300), false);
    left.merge(right);
    assert.equal(left.count, 4000);
    assertClose(left.mean(), whole.mean(), 1e-12, `${algorithm} merged mean`);
    assertClose(left.variance(), whole.variance(), 1e-12, `${algorithm} merged var`);
    // Merging into an empty accumulator copies; merging an empty one changes nothing.
    const empty = new RunningMoments(columns.length, algorithm);
    empty.merge(left);
    empty.merge(new RunningMoments(columns.length, algorithm));
    assert.deepEqual(empty.exportState(), left.exportState());
  }
});

test("shifted_data stays accurate for a huge mean and a tiny variance, where float32 sums fail", () => {
  // Values 1000 + 0.01 z in float32: E[x^2] - E[x]^2 cancels 1e6 against 1e6 to find 1e-4.
  const rng = new Generator(14);
  const n = 20000;
  const columns = [column(rng, n, 0, () => 1000 + 0.01 * normal(rng))];
  const { var_g } = twoPass(columns);
  // Upstream's naive algorithm in float32 (torch sums each batch, then adds to the buffers).
  let sum32 = 0;
  let squares32 = 0;
  for (let start = 0; start < n; start += 1000) {
    let batchSum = 0;
    let batchSquares = 0;
    for (let i = start; i < start + 1000; i++) {
      const x = columns[0]![i]!;
      batchSum = Math.fround(batchSum + x);
      batchSquares = Math.fround(batchSquares + Math.fround(x * x));
    }
    sum32 = Math.fround(sum32 + batchSum);
    squares32 = Math.fround(squares32 + batchSquares);
  }
  const mean32 = Math.fround(sum32 / n);
  const var32 = Math.fround(Math.fround(squares32 / n) - Math.fround(mean32 * mean32));
  assert.ok(Math.abs(var32 - var_g[0]!) / var_g[0]! > 1, `float32 naive variance ${var32} vs ${var_g[0]}`);

  const batches = randomBatches(rng, 0, n, 1000);
  const shifted = fit(columns, "shifted_data", batches, true);
  assertClose(shifted.variance(), var_g, 1e-9, "shifted_data var");
  // float64 naive sums lose about 1e6 * 2^-52 * sqrt(n) of the 1e-4: still within 1e-4 relative.
  const naive = fit(columns, "naive", batches, false);
  assertClose(naive.variance(), var_g, 1e-4, "naive float64 var");
});

test("RunningMoments state round trip: a resumed run equals an uninterrupted one", () => {
  const rng = new Generator(15);
  const columns = mixedColumns(rng, 1000);
  for (const algorithm of ALGORITHMS) {
    const batches = randomBatches(rng, 0, 1000, 100);
    const uninterrupted = fit(columns, algorithm, batches, true);
    const first = fit(columns, algorithm, batches.slice(0, 4), true);
    const resumed = RunningMoments.fromState(first.exportState());
    for (const [start, end] of batches.slice(4)) resumed.update(csrRows(columns, start, end));
    assert.deepEqual(resumed.exportState(), uninterrupted.exportState());
  }
});

test("RunningMoments before any cell: NaN statistics; reset forgets the shift", () => {
  const moments = new RunningMoments(2, "shifted_data");
  assert.ok(Number.isNaN(moments.mean()[0]!) && Number.isNaN(moments.variance()[1]!));
  moments.update({ format: "dense", nRows: 2, nCols: 2, data: Float32Array.from([1, 2, 3, 6]) });
  assert.deepEqual(Array.from(moments.exportState().x_shift_g!), [2, 4]);
  assert.deepEqual(Array.from(moments.variance()), [1, 4]);
  moments.reset();
  assert.equal(moments.exportState().x_shift_g, null);
  moments.update({ format: "dense", nRows: 1, nCols: 2, data: Float32Array.from([5, 7]) });
  assert.deepEqual(Array.from(moments.exportState().x_shift_g!), [5, 7]);
});

test("RunningMoments rejects a wrong column count, a mismatched merge and an inconsistent state", () => {
  const moments = new RunningMoments(3);
  assert.throws(
    () => moments.update({ format: "dense", nRows: 1, nCols: 2, data: new Float32Array(2) }),
    (e: unknown) => e instanceof ArgumentError && /x_ng has 2 columns, expected 3 genes/.test(e.message),
  );
  assert.throws(() => moments.merge(new RunningMoments(3, "shifted_data")), ArgumentError);
  assert.throws(() => new RunningMoments(3, "welford" as MomentsAlgorithm), ArgumentError);
  const state = { ...new RunningMoments(3, "shifted_data").exportState(), x_size: 5 };
  assert.throws(
    () => RunningMoments.fromState(state),
    (e: unknown) => e instanceof CheckpointError && /x_shift_g is missing/.test(e.message),
  );
  assert.throws(
    () => RunningMoments.fromState({ ...moments.exportState(), x_squared_sums_g: new Float64Array(2) }),
    CheckpointError,
  );
});
