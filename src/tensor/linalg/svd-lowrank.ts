// Randomized truncated SVD: the randomized range finder with subspace (power) iterations of Halko,
// Martinsson & Tropp, "Finding structure with randomness", SIAM Review 2011, Algorithm 4.4, the
// algorithm of torch.svd_lowrank. Each power step re-orthonormalizes by QR, which keeps the small
// singular directions from drowning in rounding error.

import { ArgumentError } from "../../errors.js";
import { kernels } from "../kernels/index.js";
import type { FloatArray } from "../kernels/types.js";
import type { Generator } from "../random.js";
import { type Mat, matmul, zerosLike } from "./mat.js";
import type { LinearOperator } from "./operator.js";
import { flipSigns } from "./signs.js";
import { svd } from "./svd.js";
import { tallQr } from "./tall-qr.js";

/**
 * An orthonormal basis (rows x cols, cols <= rows) of the column space of y, by thin QR: CholeskyQR2
 * in float64 (GEMM-bound, see tall-qr.ts), or one CholeskyQR pass when `passes` is 1 (a basis that
 * is only well conditioned, enough between the products of a power iteration); Householder in
 * float32 (whose Gram matrix would lose half of float32's digits).
 */
function orth<T extends FloatArray>(y: Mat<T>, passes: 1 | 2 = 2): Mat<T> {
  if (y.data instanceof Float64Array) return tallQr(y as Mat<Float64Array>, passes).q as Mat<T>;
  const q = zerosLike(y.data, y.rows, y.cols);
  const r = zerosLike(y.data, y.cols, y.cols);
  kernels().qr({ m: y.rows, n: y.cols, a: y.data, q: q.data, r: r.data });
  return q;
}

/**
 * The thin SVD of a tall B (m x n, m >= n): in float64 through B = Q R and the SVD of the small R
 * (U = Q U_R), which moves the O(m n^2) work from LAPACK's bidiagonalization into GEMM.
 */
function tallSvd<T extends FloatArray>(b: Mat<T>): { u: Mat<T>; s: T; vt: Mat<T> } {
  if (!(b.data instanceof Float64Array)) return svd(b);
  const { q, r } = tallQr(b as Mat<Float64Array>);
  const small = svd(r);
  const u = matmul(q, small.u);
  flipSigns(u, small.vt, u.cols);
  return { u, s: small.s, vt: small.vt } as unknown as { u: Mat<T>; s: T; vt: Mat<T> };
}

/** Applies op.mul or op.mulT and checks the shape it returns (an operator is user code). */
function apply<T extends FloatArray>(op: LinearOperator<T>, transpose: boolean, x: Mat<T>): Mat<T> {
  const y = transpose ? op.mulT(x) : op.mul(x);
  const rows = transpose ? op.cols : op.rows;
  if (y.rows !== rows || y.cols !== x.cols || y.data.length !== rows * x.cols) {
    throw new ArgumentError(
      `svdLowrank: op.${transpose ? "mulT" : "mul"} returned a ${y.rows} x ${y.cols} matrix, expected ${rows} x ${x.cols}`,
    );
  }
  return y;
}

function nonNegativeInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0) {
    throw new ArgumentError(`svdLowrank: ${name} must be a non-negative integer, got ${value}`);
  }
}

/**
 * The top `q` singular triplets of the operator A (rows x cols): U (rows x q), s (q, descending) and
 * V (cols x q) with A ~ U diag(s) V^T, computed on l = min(q + oversample, rows, cols) random
 * directions drawn from `generator` (standard normal) and refined by `niter` power iterations:
 * Q = orth(A R); niter times { Q = orth(A^T Q); Q = orth(A Q) }; then the exact SVD of the small
 * Q^T A. torch.svd_lowrank(A, q, niter) is the case oversample = 0 (its q already oversamples).
 * Each column of V has its largest-magnitude entry positive. `start` (cols x s, s <= l), when given,
 * replaces the first s random directions: a warm start from a known approximation of the top right
 * singular subspace (an incremental SVD's previous components), which the power iterations then
 * only refine.
 */
export function svdLowrank<T extends FloatArray>(
  op: LinearOperator<T>,
  q: number,
  niter: number,
  oversample: number,
  generator: Generator,
  start?: Mat<T>,
): { u: Mat<T>; s: T; v: Mat<T> } {
  const { rows, cols } = op;
  if (!Number.isInteger(q) || q < 1 || q > Math.min(rows, cols)) {
    throw new ArgumentError(
      `svdLowrank: q must be an integer in [1, min(rows, cols) = ${Math.min(rows, cols)}], got ${q}`,
    );
  }
  nonNegativeInteger("niter", niter);
  nonNegativeInteger("oversample", oversample);
  const l = Math.min(q + oversample, rows, cols);
  const like = op.dtype === "float32" ? new Float32Array(0) : new Float64Array(0);
  const omega = zerosLike(like as T, cols, l);
  if (start) {
    if (start.rows !== cols || start.cols > l) {
      throw new ArgumentError(
        `svdLowrank: start must be ${cols} x (at most ${l}), got ${start.rows} x ${start.cols}`,
      );
    }
    // Only the directions the start does not give are drawn.
    const known = start.cols;
    const random = zerosLike(like as T, cols, l - known);
    generator.fillNormal(random.data);
    for (let i = 0; i < cols; i++) {
      omega.data.set(start.data.subarray(i * known, (i + 1) * known), i * l);
      omega.data.set(random.data.subarray(i * (l - known), (i + 1) * (l - known)), i * l + known);
    }
  } else {
    generator.fillNormal(omega.data);
  }

  let basis = orth(apply(op, false, omega));
  for (let i = 0; i < niter; i++) {
    // The row-space basis only feeds the next product; the column-space one is fully orthonormal.
    basis = orth(apply(op, true, basis), 1);
    basis = orth(apply(op, false, basis));
  }
  // B = Q^T A (l x cols) is formed as its transpose A^T Q; if B^T = Ub diag(s) Vbt then
  // A ~ Q B = (Q Vbt^T) diag(s) Ub^T, so U = Q Vbt^T and V = Ub.
  const small = tallSvd(apply(op, true, basis));
  const u = zerosLike(basis.data, rows, q);
  // The first q rows of Vbt (l x l) are contiguous: read them transposed, as a q x l matrix.
  kernels().gemm({
    transA: false,
    transB: true,
    m: rows,
    n: q,
    k: l,
    alpha: 1,
    a: basis.data,
    lda: l,
    b: small.vt.data,
    ldb: l,
    beta: 0,
    c: u.data,
    ldc: q,
  });
  const v = zerosLike(basis.data, cols, q);
  for (let i = 0; i < cols; i++) v.data.set(small.u.data.subarray(i * l, i * l + q), i * q);
  return { u, s: small.s.slice(0, q) as T, v };
}
