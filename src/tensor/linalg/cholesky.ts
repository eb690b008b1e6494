import { ArgumentError } from "../../errors.js";
import { kernels } from "../kernels/index.js";
import type { FloatArray } from "../kernels/types.js";
import { checkMat, type Mat, zerosLike } from "./mat.js";

/**
 * The lower-triangular L with A = L L^T, from the lower triangle of a symmetric positive-definite
 * A (n x n), as torch.linalg.cholesky; a matrix that is not positive definite throws ArgumentError.
 */
export function cholesky<T extends FloatArray>(a: Mat<T>): Mat<T> {
  checkMat("cholesky", "a", a);
  if (a.rows !== a.cols) throw new ArgumentError(`cholesky: a must be square, got ${a.rows} x ${a.cols}`);
  const l = zerosLike(a.data, a.rows, a.rows);
  kernels().cholesky({ n: a.rows, a: a.data, l: l.data });
  return l;
}
