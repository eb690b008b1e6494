import { ArgumentError } from "../../errors.js";
import { kernels } from "../kernels/index.js";
import type { FloatArray } from "../kernels/types.js";
import { checkMat, type Mat, zerosLike } from "./mat.js";
import { flipSigns } from "./signs.js";

/**
 * Eigendecomposition of a symmetric A (n x n) = V diag(w) V^T, read from A's lower triangle (as
 * numpy.linalg.eigh with UPLO="L"): eigenvalues w ascending, eigenvector j in column j of V, with its
 * largest-magnitude entry positive (see flipSigns).
 */
export function eigh<T extends FloatArray>(a: Mat<T>): { w: T; v: Mat<T> } {
  checkMat("eigh", "a", a);
  if (a.rows !== a.cols) throw new ArgumentError(`eigh: a must be square, got ${a.rows} x ${a.cols}`);
  const v = zerosLike(a.data, a.rows, a.rows);
  const w = zerosLike(a.data, 1, a.rows).data;
  kernels().eigh({ n: a.rows, a: a.data, w, v: v.data });
  flipSigns(v, null, a.rows);
  return { w, v };
}
