// Thin QR of tall float64 matrices by CholeskyQR2 (Fukaya, Nakatsukasa, Yanagisawa & Yamamoto,
// "CholeskyQR2: a simple and communication-avoiding algorithm for computing a tall-skinny QR
// factorization", 2014): R1 = chol(Y^T Y)^T and Q1 = Y R1^-1, then the same once more on Q1, which
// restores orthogonality to machine precision whenever cond(Y) is below ~1e7. Every step is a GEMM
// or a tiny n x n factorization, against Householder QR's level-2 sweeps: on a 20,000 x 60 matrix
// (IncrementalPCA's randomized SVD) it is several times faster. A Gram matrix that is not
// numerically positive definite (a rank-deficient or badly conditioned Y) falls back to Householder.

import { ArgumentError } from "../../errors.js";
import { kernels } from "../kernels/index.js";
import { cholesky } from "./cholesky.js";
import { checkMat, type Mat, matmul, zerosLike } from "./mat.js";
import { solve } from "./solve.js";

function identity(n: number): Mat<Float64Array> {
  const out = zerosLike(new Float64Array(0), n, n);
  for (let i = 0; i < n; i++) out.data[i * n + i] = 1;
  return out;
}

/** One CholeskyQR step: Q = Y L^-T and L with Y^T Y = L L^T, or null when Y^T Y is not positive definite. */
function choleskyStep(y: Mat<Float64Array>): { q: Mat<Float64Array>; l: Mat<Float64Array> } | null {
  let l: Mat<Float64Array>;
  try {
    l = cholesky(matmul(y, y, true));
  } catch (error) {
    if (error instanceof ArgumentError) return null;
    throw error;
  }
  const lInverse = solve(l, identity(y.cols));
  return { q: matmul(y, lInverse, false, true), l };
}

/**
 * Y (m x n, m >= n) = Q R with Q (m x n) orthonormal columns and R (n x n) upper triangular (signs
 * as they come: callers that need a convention normalize them). passes = 1 runs CholeskyQR once:
 * Q's columns are then orthonormal only to ~cond(Y)^2 1e-16, but as well conditioned as a basis
 * needs to be (cond(Q) stays near 1 while cond(Y) < ~1e7; above ~1e8 the Cholesky fails and
 * Householder takes over), at half the cost: what the intermediate steps of a power iteration need.
 */
export function tallQr(
  y: Mat<Float64Array>,
  passes: 1 | 2 = 2,
): { q: Mat<Float64Array>; r: Mat<Float64Array> } {
  checkMat("tallQr", "y", y);
  if (y.rows < y.cols) throw new ArgumentError(`tallQr: y must have rows >= cols, got ${y.rows} x ${y.cols}`);
  const first = choleskyStep(y);
  if (first && passes === 1) return { q: first.q, r: transpose(first.l) };
  const second = first && choleskyStep(first.q);
  if (first && second) {
    // R = R2 R1 = L2^T L1^T = (L1 L2)^T.
    return { q: second.q, r: transpose(matmul(first.l, second.l)) };
  }
  const q = zerosLike(y.data, y.rows, y.cols);
  const r = zerosLike(y.data, y.cols, y.cols);
  kernels().qr({ m: y.rows, n: y.cols, a: y.data, q: q.data, r: r.data });
  return { q, r };
}

function transpose(m: Mat<Float64Array>): Mat<Float64Array> {
  const out = zerosLike(m.data, m.cols, m.rows);
  for (let i = 0; i < m.rows; i++)
    for (let j = 0; j < m.cols; j++) out.data[j * m.rows + i] = m.data[i * m.cols + j]!;
  return out;
}
