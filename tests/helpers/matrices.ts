// Shared pieces of the kernel and linear-algebra tests: random matrices from the seeded generator,
// float64 reference products, and the two backends.

import type { FloatArray, Kernels } from "../../src/tensor/kernels/index.js";
import { kernels, nativeAvailable, useKernels } from "../../src/tensor/kernels/index.js";
import { Generator } from "../../src/tensor/random.js";
import { backends } from "./backends.js";

export type Dtype = "float32" | "float64";
export const dtypes: readonly Dtype[] = ["float32", "float64"];
export { backends };

/** node:test options that skip native tests when the addon is absent (CI requires it elsewhere). */
export function skipUnless(which: (typeof backends)[number]): { skip: string | false } {
  return { skip: which === "native" && !nativeAvailable() ? "the native addon is not built" : false };
}

/** The kernels of one backend (also made the active one, which linalg uses). */
export function backend(which: (typeof backends)[number]): Kernels {
  useKernels(which);
  return kernels();
}

export function allocate(dtype: Dtype, length: number): FloatArray {
  return dtype === "float32" ? new Float32Array(length) : new Float64Array(length);
}

export function randomArray(dtype: Dtype, length: number, seed: number): FloatArray {
  const out = allocate(dtype, length);
  new Generator(seed).fillNormal(out);
  return out;
}

/** Relative tolerance of a computation in `dtype` on small well-conditioned matrices. */
export function tolerance(dtype: Dtype): number {
  return dtype === "float32" ? 2e-5 : 1e-12;
}

/** C = op(A) op(B) in float64 by the definition, for row-major operands with leading dimensions. */
export function referenceGemm(
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  a: ArrayLike<number>,
  lda: number,
  b: ArrayLike<number>,
  ldb: number,
): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++) {
        sum += a[transA ? p * lda + i : i * lda + p]! * b[transB ? j * ldb + p : p * ldb + j]!;
      }
      c[i * n + j] = sum;
    }
  }
  return c;
}

/** The largest |x_i - y_i| relative to the largest |y_i| (or 1 when y is tiny). */
export function relativeError(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) throw new Error(`lengths differ: ${x.length} vs ${y.length}`);
  let error = 0;
  let scale = 1e-30;
  for (let i = 0; i < x.length; i++) {
    error = Math.max(error, Math.abs(x[i]! - y[i]!));
    scale = Math.max(scale, Math.abs(y[i]!));
  }
  return error / Math.max(scale, 1);
}

/** The transpose (cols x rows) of a row-major rows x cols matrix, in float64. */
export function transpose(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j]!;
  return t;
}

/** Q^T Q - I for Q (rows x cols), as its largest absolute entry. */
export function orthogonalityError(q: ArrayLike<number>, rows: number, cols: number): number {
  const gram = referenceGemm(true, false, cols, cols, rows, q, cols, q, cols);
  let error = 0;
  for (let i = 0; i < cols; i++) {
    for (let j = 0; j < cols; j++) error = Math.max(error, Math.abs(gram[i * cols + j]! - (i === j ? 1 : 0)));
  }
  return error;
}
