// Small builders and a torch reference runner shared by the transform tests.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import type { CsrMatrix, DenseMatrix, Matrix } from "../../src/data/matrix.js";
import { Generator } from "../../src/tensor/random.js";

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
