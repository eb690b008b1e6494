import { kernels } from "../kernels/index.js";
import type { FloatArray } from "../kernels/types.js";
import { checkMat, type Mat, zerosLike } from "./mat.js";
import { flipSigns } from "./signs.js";

/**
 * Thin SVD A (m x n) = U diag(s) Vt: U (m x k), s (k) descending and non-negative, Vt (k x n),
 * k = min(m, n) (torch.linalg.svd with full_matrices=False). Each column of U has its
 * largest-magnitude entry positive (see flipSigns).
 */
export function svd<T extends FloatArray>(a: Mat<T>): { u: Mat<T>; s: T; vt: Mat<T> } {
  checkMat("svd", "a", a);
  const k = Math.min(a.rows, a.cols);
  const u = zerosLike(a.data, a.rows, k);
  const vt = zerosLike(a.data, k, a.cols);
  const s = zerosLike(a.data, 1, k).data;
  kernels().svd({ m: a.rows, n: a.cols, a: a.data, u: u.data, s, vt: vt.data });
  flipSigns(u, vt, k);
  return { u, s, vt };
}

/** The singular values of A (m x n), min(m, n) of them in descending order, without the vectors. */
export function svdvals<T extends FloatArray>(a: Mat<T>): T {
  checkMat("svdvals", "a", a);
  const s = zerosLike(a.data, 1, Math.min(a.rows, a.cols)).data;
  kernels().svd({ m: a.rows, n: a.cols, a: a.data, u: null, s, vt: null });
  return s;
}
