import type { FloatArray, KernelArgs } from "./types.js";

/** The fields gemm and gemmBatched share, without the arrays. */
type GemmShape = Omit<KernelArgs<"gemm">, "a" | "b" | "c">;

// Elements of B kept hot while every row of C uses them: 32 Ki elements (128 KiB in float32,
// 256 KiB in float64) fit the L2 cache of current x86 and ARM cores.
const PANEL_ELEMENTS = 32768;

// Row-major GEMM in plain TypeScript, the fallback when the OpenBLAS addon is absent.
// Without transB the loop order i-p-j streams rows of B and C contiguously (an axpy per entry of A);
// with transB each entry of C is a dot product of two contiguous rows. Either way B is walked in
// panels of about PANEL_ELEMENTS so it is read from cache, not memory, for all m rows of C.
// Transposed A is read through its strides rather than copied.
export function gemmTs<T extends FloatArray>(g: KernelArgs<"gemm", T>): void {
  product(g, g.a, g.b, g.c);
}

/** C = alpha op(A) op(B) + beta C with the sizes of g on the views a, b, c. */
function product<T extends FloatArray>(g: GemmShape, a: T, b: T, c: T): void {
  const { transA, transB, m, n, k, alpha, lda, ldb, beta, ldc } = g;
  for (let i = 0; i < m; i++) {
    const rowC = i * ldc;
    if (beta === 0) c.fill(0, rowC, rowC + n);
    else if (beta !== 1) for (let j = 0; j < n; j++) c[rowC + j]! *= beta;
  }
  if (alpha === 0 || k === 0) return;
  const aRowStride = transA ? 1 : lda;
  const aColStride = transA ? lda : 1;
  if (!transB) {
    const panelRows = Math.max(1, Math.floor(PANEL_ELEMENTS / Math.max(1, n)));
    for (let p0 = 0; p0 < k; p0 += panelRows) {
      const p1 = Math.min(k, p0 + panelRows);
      for (let i = 0; i < m; i++) {
        const rowC = i * ldc;
        for (let p = p0; p < p1; p++) {
          const aip = alpha * a[i * aRowStride + p * aColStride]!;
          if (aip === 0) continue;
          const rowB = p * ldb;
          for (let j = 0; j < n; j++) c[rowC + j]! += aip * b[rowB + j]!;
        }
      }
    }
  } else {
    const panelRows = Math.max(1, Math.floor(PANEL_ELEMENTS / k));
    for (let j0 = 0; j0 < n; j0 += panelRows) {
      const j1 = Math.min(n, j0 + panelRows);
      for (let i = 0; i < m; i++) {
        const rowC = i * ldc;
        const rowA = i * aRowStride;
        for (let j = j0; j < j1; j++) {
          const rowB = j * ldb;
          let sum = 0;
          for (let p = 0; p < k; p++) sum += a[rowA + p * aColStride]! * b[rowB + p]!;
          c[rowC + j]! += alpha * sum;
        }
      }
    }
  }
}

/** `batch` gemmTs calls on views at multiples of the strides (see KERNELS.gemmBatched). */
export function gemmBatchedTs<T extends FloatArray>(g: KernelArgs<"gemmBatched", T>): void {
  for (let i = 0; i < g.batch; i++) {
    product(
      g,
      g.a.subarray(i * g.strideA) as T,
      g.b.subarray(i * g.strideB) as T,
      g.c.subarray(i * g.strideC) as T,
    );
  }
}
