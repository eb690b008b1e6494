// A batch minus a per-gene mean, A = X - 1 mean_g^T, as a linear operator, so that IncrementalPCA's
// randomized SVD and its projection run on a CSR batch without densifying it (and on a dense batch
// without a centered copy): A R = X R - 1 (mean_g^T R) and A^T Y = X^T Y - mean_g (1^T Y).
//
// The products come back in float64 because the small matrices around them (QR, SVD, the merged
// state) are float64. X itself stays float32 and so do the products with it (the data are float32;
// float64 copies would double the memory traffic for no accuracy a randomized range finder can
// use): a dense block goes through float32 GEMM, a CSR block through the sparse kernels, which cost
// O(nnz l) instead of GEMM's O(n g l) on a densified copy.

import { type CsrMatrix, type DenseMatrix, type Matrix, storedForm } from "../../data/matrix.js";
import { kernels } from "../../tensor/kernels/index.js";
import type { Mat } from "../../tensor/linalg/mat.js";
import type { LinearOperator } from "../../tensor/linalg/operator.js";

/** Column means of x_ng in float64. */
export function columnMeans(x: Matrix): Float64Array {
  // A deferred dense block (matrix.ts) through its CSR form.
  const x_ng = storedForm(x);
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

/**
 * The float32 operand and product of the last calls, reused: IncrementalPCA makes six products a
 * step, each with a 20,000 x 60 operand, and a fresh array of that size costs its zeroing and first
 * touch (this VM: ~4 ms per MB) on top of the conversion. Only the float64 result is new.
 */
const staging = { operand: new Float32Array(0), product: new Float32Array(0) };

function stagingArray(which: keyof typeof staging, length: number): Float32Array {
  if (staging[which].length < length) staging[which] = new Float32Array(length);
  return staging[which].subarray(0, length);
}

/** B in float32, in the operand's staging array. */
function float32Operand(b: Mat<Float64Array>): Float32Array {
  const dense = stagingArray("operand", b.data.length);
  dense.set(b.data);
  return dense;
}

/**
 * op(x) B for a CSR x by the sparse kernels (O(nnz l)), with B given in float64; float32 products
 * like the dense path's GEMM, widened to float64.
 */
function csrTimes(x: CsrMatrix, b: Mat<Float64Array>, transpose: boolean): Float64Array {
  const l = b.cols;
  const out32 = stagingArray("product", (transpose ? x.nCols : x.nRows) * l);
  const csr = { rows: x.nRows, cols: x.nCols, indptr: x.indptr, indices: x.indices, values: x.data };
  const dense = float32Operand(b);
  if (transpose) kernels().csrTransposeMatmul({ ...csr, y: dense, l, c: out32 });
  else kernels().csrMatmul({ ...csr, b: dense, l, c: out32 });
  // The typed-array constructor converts natively; Float64Array.from goes through the iterator (~5x slower).
  return new Float64Array(out32);
}

/**
 * op(x) B for x_ng itself (not centered): x B (n x l) for B (g x l), or x^T B (g x l) for B
 * (n x l); float32 products widened to float64.
 */
export function matrixTimes(x: Matrix, b: Mat<Float64Array>, transpose: boolean): Float64Array {
  const x_ng = storedForm(x);
  return x_ng.format === "csr" ? csrTimes(x_ng, b, transpose) : denseTimes(x_ng, b, transpose);
}

/** op(x) B in float32 GEMM for a dense x, with B given in float64; the result widened to float64. */
function denseTimes(x: DenseMatrix, b: Mat<Float64Array>, transpose: boolean): Float64Array {
  const rows = transpose ? x.nCols : x.nRows;
  const inner = transpose ? x.nRows : x.nCols;
  const out32 = stagingArray("product", rows * b.cols);
  kernels().gemm({
    transA: transpose,
    transB: false,
    m: rows,
    n: b.cols,
    k: inner,
    alpha: 1,
    a: x.data,
    lda: Math.max(1, x.nCols),
    b: float32Operand(b),
    ldb: Math.max(1, b.cols),
    beta: 0,
    c: out32,
    ldc: Math.max(1, b.cols),
  });
  return new Float64Array(out32);
}

/**
 * The operator of x_ng - 1 mean_g^T (n x g); mean_g null for x_ng itself. mul takes R (g x l) and
 * returns n x l, mulT takes Y (n x l) and returns g x l, all float64.
 */
export function centeredOperator(x: Matrix, mean_g: Float64Array | null): LinearOperator<Float64Array> {
  // A deferred dense block (matrix.ts) through its CSR form.
  const x_ng = storedForm(x);
  const { nRows, nCols } = x_ng;
  return {
    rows: nRows,
    cols: nCols,
    dtype: "float64",
    mul(r) {
      const l = r.cols;
      const out = matrixTimes(x_ng, r, false);
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
      const out = matrixTimes(x_ng, y, true);
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
