// Random cell-by-gene data for the streaming statistics tests: columns drawn from chosen
// distributions, cut into CSR or dense batches of random sizes.

import type { CsrMatrix, DenseMatrix } from "../../../src/data/matrix.js";
import type { Generator } from "../../../src/tensor/random.js";

/** Column-major float32 data: columns_g[g][n] is cell n's value for gene g. */
export type Columns = Float32Array[];

export function normal(rng: Generator): number {
  const pair = new Float64Array(2);
  rng.fillNormal(pair);
  return pair[0]!;
}

/** Poisson draw by inversion of the CDF (fine for the small means of sparse counts). */
export function poisson(rng: Generator, mean: number): number {
  let k = 0;
  let p = Math.exp(-mean);
  let cdf = p;
  const u = rng.nextDouble();
  while (u > cdf) {
    k++;
    p *= mean / k;
    cdf += p;
  }
  return k;
}

/** Negative binomial: failures before `successes` successes of probability p (sum of geometrics). */
export function negativeBinomial(rng: Generator, successes: number, p: number): number {
  let k = 0;
  for (let s = 0; s < successes; s++) k += Math.floor(Math.log(1 - rng.nextDouble()) / Math.log(1 - p));
  return k;
}

/** One column of n values from draw(), set to zero with probability `zeros`. */
export function column(rng: Generator, n: number, zeros: number, draw: () => number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.nextDouble() < zeros ? 0 : draw();
  return out;
}

/** Rows [start, end) of the columns as a CSR block, zeros left out. */
export function csrRows(columns: Columns, start: number, end: number): CsrMatrix {
  const indptr = new Int32Array(end - start + 1);
  const indices: number[] = [];
  const data: number[] = [];
  for (let i = start; i < end; i++) {
    columns.forEach((values, g) => {
      if (values[i] !== 0) {
        indices.push(g);
        data.push(values[i]!);
      }
    });
    indptr[i - start + 1] = indices.length;
  }
  return {
    format: "csr",
    nRows: end - start,
    nCols: columns.length,
    indptr,
    indices: Int32Array.from(indices),
    data: Float32Array.from(data),
  };
}

/** Rows [start, end) of the columns as a row-major dense block. */
export function denseRows(columns: Columns, start: number, end: number): DenseMatrix {
  const nCols = columns.length;
  const data = new Float32Array((end - start) * nCols);
  columns.forEach((values, g) => {
    for (let i = start; i < end; i++) data[(i - start) * nCols + g] = values[i]!;
  });
  return { format: "dense", nRows: end - start, nCols, data };
}

/** Cuts [start, end) into consecutive batches of random sizes in [1, maxSize]. */
export function randomBatches(
  rng: Generator,
  start: number,
  end: number,
  maxSize: number,
): [number, number][] {
  const out: [number, number][] = [];
  for (let i = start; i < end; ) {
    const size = Math.min(end - i, rng.randint(1, maxSize + 1));
    out.push([i, i + size]);
    i += size;
  }
  return out;
}
