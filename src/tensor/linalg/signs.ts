import type { FloatArray } from "../kernels/types.js";
import type { Mat } from "./mat.js";

/**
 * Fixes the sign of each of the first `k` columns of `u` so that its entry of largest magnitude is
 * positive, negating row j of `vt` (when given) with column j of u: the product U diag(s) Vt is
 * unchanged. Singular and eigen vectors are only defined up to sign, and LAPACK and ml-matrix pick
 * differently; this convention (scikit-learn's svd_flip on U) makes results backend-independent.
 */
export function flipSigns<T extends FloatArray>(u: Mat<T>, vt: Mat<T> | null, k: number): void {
  for (let j = 0; j < k; j++) {
    let largest = 0;
    for (let i = 0; i < u.rows; i++) {
      const value = u.data[i * u.cols + j]!;
      if (Math.abs(value) > Math.abs(largest)) largest = value;
    }
    if (largest >= 0) continue;
    for (let i = 0; i < u.rows; i++) u.data[i * u.cols + j] = -u.data[i * u.cols + j]!;
    if (vt !== null) {
      const row = vt.data.subarray(j * vt.cols, (j + 1) * vt.cols);
      for (let i = 0; i < row.length; i++) row[i] = -row[i]!;
    }
  }
}
