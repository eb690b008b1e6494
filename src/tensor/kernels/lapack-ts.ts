// The decompositions in TypeScript, through ml-matrix (JAMA's algorithms: Householder QR, Golub-Kahan
// SVD, tridiagonal QL for symmetric matrices, LU with partial pivoting, Cholesky-Banachiewicz).
// ml-matrix computes in float64, so float32 arguments are widened on the way in and rounded on the
// way out. Like LAPACK, eigh and cholesky read only the lower triangle of their input.

import { createRequire } from "node:module";
import type * as MlMatrix from "ml-matrix";
import type { Matrix } from "ml-matrix";
import { ArgumentError } from "../../errors.js";
import type { FloatArray, KernelArgs } from "./types.js";

// ml-matrix is required (its CommonJS build, synchronously) on the first decomposition: the native
// kernels are the default, and loading it with every process took ~35 ms of each thread's start.
let library: typeof MlMatrix | undefined;
function mlMatrix(): typeof MlMatrix {
  library ??= createRequire(import.meta.url)("ml-matrix") as typeof MlMatrix;
  return library;
}

function toMatrix(rows: number, cols: number, data: FloatArray): Matrix {
  const matrix = new (mlMatrix().Matrix)(rows, cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) matrix.set(i, j, data[i * cols + j]!);
  }
  return matrix;
}

/** The symmetric matrix whose lower triangle is that of `data` (n x n). */
function lowerSymmetric(n: number, data: FloatArray): Matrix {
  const matrix = new (mlMatrix().Matrix)(n, n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const value = data[i * n + j]!;
      matrix.set(i, j, value);
      matrix.set(j, i, value);
    }
  }
  return matrix;
}

/** Writes the leading rows x cols block of `matrix` into `out` (row-major, contiguous). */
function write(matrix: Matrix, rows: number, cols: number, out: FloatArray, transpose = false): void {
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) out[i * cols + j] = transpose ? matrix.get(j, i) : matrix.get(i, j);
  }
}

export function qrTs<T extends FloatArray>(args: KernelArgs<"qr", T>): void {
  const { m, n, a, q, r } = args;
  const k = Math.min(m, n);
  if (k === 0) return;
  const matrix = toMatrix(m, n, a);
  // JAMA's QR needs m >= n. For a wide A = [A1 A2] with A1 (m x m): A1 = Q R1 and R = [R1, Q^T A2].
  const square = m < n ? matrix.subMatrix(0, m - 1, 0, m - 1) : matrix;
  const decomposition = new (mlMatrix().QrDecomposition)(square);
  const qMatrix = decomposition.orthogonalMatrix;
  write(qMatrix, m, k, q);
  const r1 = decomposition.upperTriangularMatrix;
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) r[i * n + j] = r1.get(i, j);
  }
  if (m < n) {
    const r2 = qMatrix.transpose().mmul(matrix.subMatrix(0, m - 1, m, n - 1));
    for (let i = 0; i < k; i++) {
      for (let j = m; j < n; j++) r[i * n + j] = r2.get(i, j - m);
    }
  }
}

export function svdTs<T extends FloatArray>(args: KernelArgs<"svd", T>): void {
  const { m, n, a, u, s, vt } = args;
  const k = Math.min(m, n);
  if (k === 0) return;
  const vectors = u !== null && vt !== null;
  const decomposition = new (mlMatrix().SingularValueDecomposition)(toMatrix(m, n, a), {
    autoTranspose: true,
    computeLeftSingularVectors: vectors,
    computeRightSingularVectors: vectors,
  });
  const values = decomposition.diagonal;
  for (let i = 0; i < k; i++) s[i] = values[i]!;
  if (vectors) {
    write(decomposition.leftSingularVectors, m, k, u);
    write(decomposition.rightSingularVectors, k, n, vt, true);
  }
}

export function eighTs<T extends FloatArray>(args: KernelArgs<"eigh", T>): void {
  const { n, a, w, v } = args;
  if (n === 0) return;
  const decomposition = new (mlMatrix().EigenvalueDecomposition)(lowerSymmetric(n, a), {
    assumeSymmetric: true,
  });
  const values = decomposition.realEigenvalues;
  for (let i = 0; i < n; i++) w[i] = values[i]!;
  write(decomposition.eigenvectorMatrix, n, n, v);
}

export function solveTs<T extends FloatArray>(args: KernelArgs<"solve", T>): void {
  const { n, nrhs, a, b, x } = args;
  if (n === 0 || nrhs === 0) return;
  const decomposition = new (mlMatrix().LuDecomposition)(toMatrix(n, n, a));
  if (decomposition.isSingular()) throw new ArgumentError(`solve: the ${n} x ${n} matrix is singular`);
  write(decomposition.solve(toMatrix(n, nrhs, b)), n, nrhs, x);
}

export function choleskyTs<T extends FloatArray>(args: KernelArgs<"cholesky", T>): void {
  const { n, a, l } = args;
  if (n === 0) return;
  const decomposition = new (mlMatrix().CholeskyDecomposition)(lowerSymmetric(n, a));
  if (!decomposition.isPositiveDefinite()) {
    throw new ArgumentError(`cholesky: the ${n} x ${n} matrix is not positive definite`);
  }
  write(decomposition.lowerTriangularMatrix, n, n, l);
}
