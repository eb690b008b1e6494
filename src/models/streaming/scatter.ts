// IncrementalPCA's exact state for data of few genes: the g x g scatter matrix of the centered
// data, sum_i (x_i - mean)(x_i - mean)^T, with the mean and the count. A batch adds its own
// centered scatter and the mean-correction term, two replicas add theirs (Chan et al.'s pairwise
// update, "Algorithms for computing the sample variance", 1979, in matrix form):
//   C = C1 + C2 + (n1 n2 / (n1 + n2)) (mean1 - mean2)(mean1 - mean2)^T,
// the Gram matrix of the stacked matrix of partial-svd.ts when nothing is truncated. The principal
// components are its top eigenpairs, so the result is the exact PCA of the cells seen, whatever
// the batch size and however the cells were split across replicas; the rank-k summary loses what
// each truncation drops (bench/RESULTS.md, "IncrementalPCA with trainer.devices 1, 2, 4").
// Only the lower triangle (entries [r][c], c <= r, row-major) is kept up to date: eigh reads
// only it. Everything is float64.

import { type Matrix, storedForm } from "../../data/matrix.js";
import { kernels } from "../../tensor/kernels/index.js";
import { svdOfGram } from "../../tensor/linalg/gram-svd.js";
import { columnMeans } from "./centered-operator.js";
import type { PartialSvd } from "./partial-svd.js";

export interface PartialScatter {
  /** Lower triangle of the centered scatter matrix, g x g row-major (the upper one is stale). */
  readonly x_scatter_gg: Float64Array;
  /** Mean of the data (zeros when the data are taken as centered). */
  readonly x_mean_g: Float64Array;
  readonly x_size: number;
}

export function emptyScatter(g: number): PartialScatter {
  return { x_scatter_gg: new Float64Array(g * g), x_mean_g: new Float64Array(g), x_size: 0 };
}

/** Columns per GEMM of the lower triangle: few calls, little work above the diagonal. */
const BLOCK = 256;
/** Cells centered and written out densely at a time (4 MiB of float64 at 2,048 genes). */
const CHUNK = 256;

/**
 * `current` updated with the batch x_ng; its scatter matrix is updated in place. With
 * meanCorrection the batch is centered by its own mean and the shift of the mean added as a
 * rank-one term; without, the data are taken as centered (no centering, the mean stays zero, as
 * upstream's). The centered rows go through GEMMs CHUNK at a time, a CSR batch too: a chunk of
 * rows is no larger than the scatter matrix itself for few genes, and its sparse outer products
 * run at memory latency (each stored pair a cache miss in the g x g matrix; 3x slower than the
 * dense GEMM at 2,048 genes and 10% non-zeros).
 */
export function updateScatter(current: PartialScatter, x: Matrix, meanCorrection: boolean): PartialScatter {
  // A deferred dense block (matrix.ts) through its CSR form.
  const x_ng = storedForm(x);
  const { nRows, nCols: g } = x_ng;
  if (nRows === 0) return current;
  const scatter = current.x_scatter_gg;
  const batchMean_g = meanCorrection ? columnMeans(x_ng) : null;
  const chunk = new Float64Array(Math.min(CHUNK, nRows) * g);
  for (let first = 0; first < nRows; first += CHUNK) {
    const rows = Math.min(CHUNK, nRows - first);
    centeredRows(x_ng, first, rows, batchMean_g, chunk);
    // Column block [c0, c1) of the lower triangle: rows c0..g of chunk^T chunk[:, c0..c1).
    for (let c0 = 0; c0 < g; c0 += BLOCK) {
      const width = Math.min(BLOCK, g - c0);
      const block = chunk.subarray(c0);
      kernels().gemm({
        transA: true,
        transB: false,
        m: g - c0,
        n: width,
        k: rows,
        alpha: 1,
        a: block,
        lda: g,
        b: block,
        ldb: g,
        beta: 1,
        c: scatter.subarray(c0 * g + c0),
        ldc: g,
      });
    }
  }
  const n = current.x_size + nRows;
  if (!batchMean_g) return { x_scatter_gg: scatter, x_mean_g: current.x_mean_g, x_size: n };
  if (current.x_size === 0) return { x_scatter_gg: scatter, x_mean_g: batchMean_g, x_size: n };
  return {
    x_scatter_gg: scatter,
    ...shiftedMean(current.x_mean_g, current.x_size, batchMean_g, nRows, scatter),
    x_size: n,
  };
}

/** Rows first..first + rows of x_ng minus mean_g (when given), written densely into `out`. */
function centeredRows(
  x_ng: Matrix,
  first: number,
  rows: number,
  mean_g: Float64Array | null,
  out: Float64Array,
): void {
  const g = x_ng.nCols;
  for (let i = 0; i < rows; i++) {
    const offset = i * g;
    if (mean_g) for (let c = 0; c < g; c++) out[offset + c] = -mean_g[c]!;
    else out.fill(0, offset, offset + g);
    if (x_ng.format === "dense") {
      const from = (first + i) * g;
      for (let c = 0; c < g; c++) out[offset + c]! += x_ng.data[from + c]!;
    } else {
      // Adding (not assigning) also sums a column stored twice in a row, as the CSR products do.
      const { indptr, indices, data } = x_ng;
      for (let p = indptr[first + i]!; p < indptr[first + i + 1]!; p++)
        out[offset + indices[p]!]! += data[p]!;
    }
  }
}

/**
 * The scatter of the union of the data that `a` and `b` summarize, added into a's matrix (b is
 * left unchanged). Exact: no direction of either is dropped.
 */
export function mergeScatters(a: PartialScatter, b: PartialScatter, meanCorrection: boolean): PartialScatter {
  if (b.x_size === 0) return a;
  const scatter = a.x_scatter_gg;
  const g = a.x_mean_g.length;
  for (let r = 0; r < g; r++) {
    for (let c = 0; c <= r; c++) scatter[r * g + c]! += b.x_scatter_gg[r * g + c]!;
  }
  const n = a.x_size + b.x_size;
  if (a.x_size === 0) return { x_scatter_gg: scatter, x_mean_g: b.x_mean_g.slice(), x_size: n };
  if (!meanCorrection) return { x_scatter_gg: scatter, x_mean_g: a.x_mean_g, x_size: n };
  return {
    x_scatter_gg: scatter,
    ...shiftedMean(a.x_mean_g, a.x_size, b.x_mean_g, b.x_size, scatter),
    x_size: n,
  };
}

/**
 * The scatter matrix that a rank-k summary stands for, V^T diag(S^2) V (an upstream checkpoint
 * continued with the exact state: later batches and merges are then exact, the summary's own
 * truncation stays).
 */
export function scatterOfSummary(p: PartialSvd): PartialScatter {
  const g = p.x_mean_g.length;
  const k = p.S_k.length;
  const scaled = new Float64Array(k * g);
  for (let j = 0; j < k; j++) {
    const s = p.S_k[j]!;
    for (let c = 0; c < g; c++) scaled[j * g + c] = s * p.V_kg[j * g + c]!;
  }
  const scatter = new Float64Array(g * g);
  kernels().gemm({
    transA: true,
    transB: false,
    m: g,
    n: g,
    k,
    alpha: 1,
    a: scaled,
    lda: g,
    b: scaled,
    ldb: g,
    beta: 0,
    c: scatter,
    ldc: g,
  });
  return { x_scatter_gg: scatter, x_mean_g: p.x_mean_g.slice(), x_size: p.x_size };
}

/** The top k principal directions of the scatter, as the rank-k summary (zero-padded, like gramSvd). */
export function summaryOfScatter(p: PartialScatter, k: number): PartialSvd {
  const g = p.x_mean_g.length;
  const { s, vt } = svdOfGram({ rows: g, cols: g, data: p.x_scatter_gg }, k);
  return { S_k: s, V_kg: vt.data, x_mean_g: p.x_mean_g, x_size: p.x_size };
}

/** The full symmetric matrix of the lower triangle (what a checkpoint stores). */
export function symmetricScatter(p: PartialScatter): Float64Array {
  const g = p.x_mean_g.length;
  const full = p.x_scatter_gg.slice();
  for (let r = 0; r < g; r++) for (let c = 0; c < r; c++) full[c * g + r] = full[r * g + c]!;
  return full;
}

/**
 * The mean of n1 cells of mean1 and n2 of mean2, after adding the mean-correction term
 * (n1 n2 / n) (mean1 - mean2)(mean1 - mean2)^T into `scatter`.
 */
function shiftedMean(
  mean1: Float64Array,
  n1: number,
  mean2: Float64Array,
  n2: number,
  scatter: Float64Array,
): { x_mean_g: Float64Array } {
  const g = mean1.length;
  const n = n1 + n2;
  const difference = new Float64Array(g);
  const x_mean_g = new Float64Array(g);
  for (let c = 0; c < g; c++) {
    difference[c] = mean1[c]! - mean2[c]!;
    x_mean_g[c] = (mean1[c]! * n1 + mean2[c]! * n2) / n;
  }
  addOuter(scatter, difference, (n1 * n2) / n);
  return { x_mean_g };
}

/** scatter += weight u u^T on the lower triangle. */
function addOuter(scatter: Float64Array, u: Float64Array, weight: number): void {
  const g = u.length;
  for (let r = 0; r < g; r++) {
    const wr = weight * u[r]!;
    for (let c = 0; c <= r; c++) scatter[r * g + c]! += wr * u[c]!;
  }
}
