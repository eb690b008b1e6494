// Small builders and a torch reference runner shared by the transform tests.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import type { Batch, Transform } from "../../src/data/batch.js";
import { type CsrMatrix, type DenseMatrix, deferredDense, type Matrix } from "../../src/data/matrix.js";
import { Generator } from "../../src/tensor/random.js";
import { composeTransforms } from "../../src/transforms/compose.js";

export function dense(rows: number[][]): DenseMatrix {
  const nRows = rows.length;
  const nCols = rows[0]?.length ?? 0;
  return { format: "dense", nRows, nCols, data: Float32Array.from(rows.flat()) };
}

/** CSR of `rows` storing only the non-zeros, columns increasing. */
export function csr(rows: number[][]): CsrMatrix {
  const indptr = [0];
  const indices: number[] = [];
  const data: number[] = [];
  for (const row of rows) {
    row.forEach((value, j) => {
      if (value !== 0) {
        indices.push(j);
        data.push(value);
      }
    });
    indptr.push(indices.length);
  }
  return {
    format: "csr",
    nRows: rows.length,
    nCols: rows[0]?.length ?? 0,
    indptr: Int32Array.from(indptr),
    indices: Int32Array.from(indices),
    data: Float32Array.from(data),
  };
}

/** The matrix as nested arrays of numbers, read entry by entry (independent of src/). */
export function rowsOf(x: Matrix): number[][] {
  const out = Array.from({ length: x.nRows }, () => new Array<number>(x.nCols).fill(0));
  if (x.format === "dense") {
    for (let i = 0; i < x.nRows; i++) for (let j = 0; j < x.nCols; j++) out[i]![j] = x.data[i * x.nCols + j]!;
  } else {
    for (let i = 0; i < x.nRows; i++) {
      for (let p = x.indptr[i]!; p < x.indptr[i + 1]!; p++) out[i]![x.indices[p]!] = x.data[p]!;
    }
  }
  return out;
}

/** Counts-like random rows: about `density` non-zeros, small integers, float32-exact. */
export function randomCounts(seed: number, nRows: number, nCols: number, density: number): number[][] {
  const rng = new Generator(seed);
  return Array.from({ length: nRows }, () =>
    Array.from({ length: nCols }, () => (rng.nextDouble() < density ? rng.randint(1, 50) : 0)),
  );
}

/** Copies of every typed array of a matrix, to check later that nothing was mutated. */
export function snapshot(x: Matrix): Matrix {
  return x.format === "dense"
    ? { ...x, data: x.data.slice() }
    : { ...x, indptr: x.indptr.slice(), indices: x.indices.slice(), data: x.data.slice() };
}

/** Every row's column indices strictly increase (canonical CSR). */
export function assertCanonical(x: CsrMatrix): void {
  for (let i = 0; i < x.nRows; i++) {
    for (let p = x.indptr[i]! + 1; p < x.indptr[i + 1]!; p++) {
      assert.ok(x.indices[p - 1]! < x.indices[p]!, `row ${i} has unsorted or repeated columns`);
    }
  }
}

/**
 * Runs `body` in Python with torch imported and `inp` (the JSON input) bound; the script must
 * assign `out`, which comes back through JSON.
 */
export function torchReference(body: string, input: unknown): unknown {
  const script = `import json, sys, math\nimport torch\ninp = json.load(sys.stdin)\n${body}\njson.dump(out, sys.stdout)`;
  const text = execFileSync("/usr/bin/python3", ["-c", script], {
    input: JSON.stringify(input),
    encoding: "utf8",
  });
  return JSON.parse(text);
}

/**
 * `transform` applied to the same batch at `k` batch positions of a fit (epoch 0, batches
 * 0..k-1, seed `seed`), through a pipeline as the Trainer calls it: k independent draws.
 */
export function atPositions(transform: Transform, batch: Batch, k: number, seed = 0): Matrix[] {
  const pipeline = composeTransforms([transform]);
  return Array.from(
    { length: k },
    (_, b) => pipeline(batch, { position: { seed, stage: "fit", epoch: 0, batch: b, replica: 0 } }).x_ng,
  );
}

/** Mean and standard error of the mean of per-draw statistics. */
export function meanAndSe(values: readonly number[]): { mean: number; se: number } {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1);
  return { mean, se: Math.sqrt(variance / n) };
}

/**
 * Asserts that two estimates (ours and torch's, or one against an exact value with se 0) agree
 * within `z` combined standard errors: a wrong formula moves the estimate by many of them.
 */
export function assertAgree(
  what: string,
  a: { mean: number; se: number },
  b: { mean: number; se: number },
  z = 5,
): void {
  const tolerance = z * Math.hypot(a.se, b.se);
  assert.ok(
    Math.abs(a.mean - b.mean) <= tolerance,
    `${what}: ${a.mean} vs ${b.mean} (tolerance ${tolerance})`,
  );
}

/**
 * Checks what every augmentation promises about its input forms and draws, and returns its result
 * for `rows` as CSR (at seed `seed`, batch 0): the CSR, dense and deferred dense forms give one
 * result, so does working in place on values the pipeline owns, none of the inputs is changed, and
 * another seed or batch draws another result.
 */
export function assertFormsAgree(
  transform: Transform,
  rows: number[][],
  seed: number,
): { x: CsrMatrix; y: Matrix } {
  const var_names_g = rows[0]!.map((_, j) => `g${j}`);
  const x = csr(rows);
  const d = dense(rows);
  const before = [snapshot(x), snapshot(d)];
  const [y, nextBatch] = atPositions(transform, { x_ng: x, var_names_g }, 2, seed);
  const want = rowsOf(y!);
  for (const x_ng of [d, deferredDense(csr(rows))])
    assert.deepEqual(rowsOf(atPositions(transform, { x_ng, var_names_g }, 1, seed)[0]!), want);
  const position = { seed, stage: "fit", epoch: 0, batch: 0, replica: 0 } as const;
  for (const x_ng of [csr(rows), dense(rows), deferredDense(csr(rows))]) {
    const owned = composeTransforms([transform])({ x_ng, var_names_g }, { ownsValues: true, position });
    assert.deepEqual(rowsOf(owned.x_ng), want);
  }
  assert.deepEqual([x, d], before);
  assert.notDeepEqual(rowsOf(nextBatch!), want);
  assert.notDeepEqual(rowsOf(atPositions(transform, { x_ng: x, var_names_g }, 1, seed + 1)[0]!), want);
  return { x, y: y! };
}
