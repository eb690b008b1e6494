// The backend seam: every heavy kernel has one signature here, a native implementation
// (src/native, OpenBLAS + LAPACK) and a TypeScript fallback. Matrices are row-major; a
// matrix argument is a typed array view (use subarray for offsets: no copy) plus its leading
// dimension, as in CBLAS with CblasRowMajor.

export type FloatArray = Float32Array | Float64Array;

export interface Kernels {
  readonly name: "native" | "typescript";
  /** C = alpha op(A) op(B) + beta C; op(A) is m x k, op(B) is k x n, C is m x n. A, B, C share a dtype. */
  gemm<T extends FloatArray>(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: T,
    lda: number,
    b: T,
    ldb: number,
    beta: number,
    c: T,
    ldc: number,
  ): void;
}
