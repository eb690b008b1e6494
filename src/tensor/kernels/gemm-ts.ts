import type { FloatArray } from "./types.js";

// Row-major GEMM in plain TypeScript, the fallback when the OpenBLAS addon is absent.
// The loop order i-p-j streams rows of B and C contiguously; transposed operands are read
// through their strides rather than copied.
export function gemmTs<T extends FloatArray>(
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
): void {
  for (let i = 0; i < m; i++) {
    const rowC = i * ldc;
    if (beta === 0) c.fill(0, rowC, rowC + n);
    else if (beta !== 1) for (let j = 0; j < n; j++) c[rowC + j]! *= beta;
  }
  if (alpha === 0 || k === 0) return;
  const aRowStride = transA ? 1 : lda;
  const aColStride = transA ? lda : 1;
  if (!transB) {
    for (let i = 0; i < m; i++) {
      const rowC = i * ldc;
      for (let p = 0; p < k; p++) {
        const aip = alpha * a[i * aRowStride + p * aColStride]!;
        if (aip === 0) continue;
        const rowB = p * ldb;
        for (let j = 0; j < n; j++) c[rowC + j]! += aip * b[rowB + j]!;
      }
    }
  } else {
    for (let i = 0; i < m; i++) {
      const rowC = i * ldc;
      for (let j = 0; j < n; j++) {
        const rowB = j * ldb;
        let sum = 0;
        for (let p = 0; p < k; p++) sum += a[i * aRowStride + p * aColStride]! * b[rowB + p]!;
        c[rowC + j]! += alpha * sum;
      }
    }
  }
}
