import type { FloatArray } from "../kernels/types.js";
import type { Mat } from "./mat.js";

/**
 * Fixes the sign of each of the first `k` columns of `u` so that its entry of largest magnitude is
 * positive, negating row j of `vt` (when given) with column j of u: the product U diag(s) Vt is
 * unchanged. Singular and eigen vectors are only defined up to sign, and LAPACK and ml-matrix pick
 * differently; this convention (scikit-learn's svd_flip on U) makes results backend-independent.
 */
export function flipSigns<T extends FloatArray>(u: Mat<T>, vt: Mat<T> | null, k: number): void {
  // Row by row (u is often tall, g x l): a column-by-column walk would touch a cache line per entry.
  const { rows, cols, data } = u;
  const largest = new Float64Array(k);
  for (let i = 0; i < rows; i++) {
    const row = i * cols;
    for (let j = 0; j < k; j++) {
      const value = data[row + j]!;
      if (Math.abs(value) > Math.abs(largest[j]!)) largest[j] = value;
    }
  }
  if (largest.every((value) => value >= 0)) return;
  for (let i = 0; i < rows; i++) {
    const row = i * cols;
    for (let j = 0; j < k; j++) if (largest[j]! < 0) data[row + j] = -data[row + j]!;
  }
  if (vt !== null) {
    for (let j = 0; j < k; j++) {
      if (largest[j]! >= 0) continue;
      const row = vt.data.subarray(j * vt.cols, (j + 1) * vt.cols);
      for (let i = 0; i < row.length; i++) row[i] = -row[i]!;
    }
  }
}
