// A batch minus a per-gene mean, A = X - 1 mean_g^T, as a linear operator, so that IncrementalPCA's
// randomized SVD and its projection run on a CSR batch without densifying it (and on a dense batch
// without a centered copy): A R = X R - 1 (mean_g^T R) and A^T Y = X^T Y - mean_g (1^T Y).
//
// The products come back in float64 because the small matrices around them (QR, SVD, the merged
// state) are float64. X itself stays float32: a dense block is multiplied by float32 GEMM (the data
// are float32, so a float64 copy would double the memory traffic for no accuracy), a CSR block by
// loops over its non-zeros that accumulate in float64.

import { type CsrMatrix, type DenseMatrix, densify, type Matrix } from "../../data/matrix.js";
import { kernels } from "../../tensor/kernels/index.js";
import type { Mat } from "../../tensor/linalg/mat.js";
import type { LinearOperator } from "../../tensor/linalg/operator.js";

/** Density above which a CSR batch is multiplied as a dense block (see centeredOperator). */
export const DENSIFY_ABOVE = 0.01;

/** Column means of x_ng in float64. */
export function columnMeans(x_ng: Matrix): Float64Array {
  const { nRows, nCols, data } = x_ng;
  const mean_g = new Float64Array(nCols);
  if (x_ng.format === "dense") {
    for (let i = 0; i < nRows; i++) {
      const offset = i * nCols;
      for (let g = 0; g < nCols; g++) mean_g[g]! += data[offset + g]!;
    }
  } else {
    const { indptr, indices } = x_ng;
    const end = indptr[nRows]!;
    for (let p = indptr[0]!; p < end; p++) mean_g[indices[p]!]! += data[p]!;
  }
  if (nRows > 0) for (let g = 0; g < nCols; g++) mean_g[g]! /= nRows;
  return mean_g;
}

/** x R (n x l) for a CSR x and a float64 R (g x l), accumulated in float64. */
function csrTimes(x: CsrMatrix, r: Mat<Float64Array>): Float64Array {
  const { nRows, indptr, indices, data } = x;
  const l = r.cols;
  const rd = r.data;
  const out = new Float64Array(nRows * l);
  for (let i = 0; i < nRows; i++) {
    const row = i * l;
    const end = indptr[i + 1]!;
    for (let p = indptr[i]!; p < end; p++) {
      const value = data[p]!;
      const from = indices[p]! * l;
      for (let j = 0; j < l; j++) out[row + j]! += value * rd[from + j]!;
    }
  }
  return out;
}

/** x^T Y (g x l) for a CSR x and a float64 Y (n x l): each stored entry scatters a row of Y. */
function csrTransposeTimes(x: CsrMatrix, y: Mat<Float64Array>): Float64Array {
  const { nRows, nCols, indptr, indices, data } = x;
  const l = y.cols;
  const yd = y.data;
  const out = new Float64Array(nCols * l);
  for (let i = 0; i < nRows; i++) {
    const row = i * l;
    const end = indptr[i + 1]!;
    for (let p = indptr[i]!; p < end; p++) {
      const value = data[p]!;
      const to = indices[p]! * l;
      for (let j = 0; j < l; j++) out[to + j]! += value * yd[row + j]!;
    }
  }
  return out;
}

/** op(x) B in float32 GEMM for a dense x, with B given in float64; the result widened to float64. */
function denseTimes(x: DenseMatrix, b: Mat<Float64Array>, transpose: boolean): Float64Array {
  const rows = transpose ? x.nCols : x.nRows;
  const inner = transpose ? x.nRows : x.nCols;
  const out32 = new Float32Array(rows * b.cols);
  kernels().gemm(
    transpose,
    false,
    rows,
    b.cols,
    inner,
    1,
    x.data,
    Math.max(1, x.nCols),
    Float32Array.from(b.data),
    Math.max(1, b.cols),
    0,
    out32,
    Math.max(1, b.cols),
  );
  return Float64Array.from(out32);
}

/**
 * The operator of x_ng - 1 mean_g^T (n x g); mean_g null for x_ng itself. mul takes R (g x l) and
 * returns n x l, mulT takes Y (n x l) and returns g x l, all float64.
 */
export function centeredOperator(matrix: Matrix, mean_g: Float64Array | null): LinearOperator<Float64Array> {
  // Above ~1% non-zeros a dense float32 copy multiplied by OpenBLAS GEMM (~200 GFLOP/s here) beats
  // the sparse loops (~0.5 GFLOP/s) although it does 1/density times the flops: measured on the
  // 7%-dense benchmark batches (1,000 x 20,000) the sparse loops took ~47% of IncrementalPCA's time.
  // Sparser batches keep the loops. The copy is made once per batch and shared by all products.
  const x_ng =
    matrix.format === "csr" && matrix.data.length > DENSIFY_ABOVE * matrix.nRows * matrix.nCols
      ? densify(matrix)
      : matrix;
  const { nRows, nCols } = x_ng;
  return {
    rows: nRows,
    cols: nCols,
    dtype: "float64",
    mul(r) {
      const l = r.cols;
      const out = x_ng.format === "csr" ? csrTimes(x_ng, r) : denseTimes(x_ng, r, false);
      if (mean_g !== null) {
        // Subtract mean_g^T R from every row.
        const shift = new Float64Array(l);
        for (let g = 0; g < nCols; g++) {
          const m = mean_g[g]!;
          if (m === 0) continue;
          const from = g * l;
          for (let j = 0; j < l; j++) shift[j]! += m * r.data[from + j]!;
        }
        for (let i = 0; i < nRows; i++) {
          const row = i * l;
          for (let j = 0; j < l; j++) out[row + j]! -= shift[j]!;
        }
      }
      return { rows: nRows, cols: l, data: out };
    },
    mulT(y) {
      const l = y.cols;
      const out = x_ng.format === "csr" ? csrTransposeTimes(x_ng, y) : denseTimes(x_ng, y, true);
      if (mean_g !== null) {
        // Subtract mean_g (1^T Y): the column sums of Y times each gene's mean.
        const sums = new Float64Array(l);
        for (let i = 0; i < nRows; i++) {
          const row = i * l;
          for (let j = 0; j < l; j++) sums[j]! += y.data[row + j]!;
        }
        for (let g = 0; g < nCols; g++) {
          const m = mean_g[g]!;
          if (m === 0) continue;
          const to = g * l;
          for (let j = 0; j < l; j++) out[to + j]! -= m * sums[j]!;
        }
      }
      return { rows: nCols, cols: l, data: out };
    },
  };
}
