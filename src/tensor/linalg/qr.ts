import { kernels } from "../kernels/index.js";
import type { FloatArray } from "../kernels/types.js";
import { checkMat, type Mat, zerosLike } from "./mat.js";

/**
 * Thin QR decomposition A (m x n) = Q R: Q (m x k) has orthonormal columns, R (k x n) is upper
 * trapezoidal, k = min(m, n). R's diagonal is made non-negative (row i of R and column i of Q
 * negated together), which makes the factorization unique for a full-rank A and the same on every
 * backend. torch.linalg.qr and numpy.linalg.qr return LAPACK's signs instead.
 */
export function qr<T extends FloatArray>(a: Mat<T>): { q: Mat<T>; r: Mat<T> } {
  checkMat("qr", "a", a);
  const k = Math.min(a.rows, a.cols);
  const q = zerosLike(a.data, a.rows, k);
  const r = zerosLike(a.data, k, a.cols);
  kernels().qr({ m: a.rows, n: a.cols, a: a.data, q: q.data, r: r.data });
  for (let i = 0; i < k; i++) {
    if (r.data[i * r.cols + i]! >= 0) continue;
    for (let j = i; j < r.cols; j++) r.data[i * r.cols + j] = -r.data[i * r.cols + j]!;
    for (let p = 0; p < q.rows; p++) q.data[p * k + i] = -q.data[p * k + i]!;
  }
  return { q, r };
}
