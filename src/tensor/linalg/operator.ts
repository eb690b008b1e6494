import type { FloatArray } from "../kernels/types.js";
import { checkMat, type Mat, matmul } from "./mat.js";

/**
 * A matrix A (rows x cols) known only through its products, so that algorithms such as svdLowrank
 * run on data that is never densified: a sparse CSR batch, or one centered on the fly
 * (A X = B X - 1 (mean^T X) for A = B - 1 mean^T).
 */
export interface LinearOperator<T extends FloatArray> {
  readonly rows: number;
  readonly cols: number;
  readonly dtype: "float32" | "float64";
  /** A X for X (cols x q); returns rows x q. */
  mul(x: Mat<T>): Mat<T>;
  /** A^T Y for Y (rows x q); returns cols x q. */
  mulT(y: Mat<T>): Mat<T>;
}

/** The operator of a dense matrix (its products are GEMM calls). */
export function denseOperator<T extends FloatArray>(a: Mat<T>): LinearOperator<T> {
  checkMat("denseOperator", "a", a);
  return {
    rows: a.rows,
    cols: a.cols,
    dtype: a.data instanceof Float32Array ? "float32" : "float64",
    mul: (x) => matmul(a, x),
    mulT: (y) => matmul(a, y, true),
  };
}
