// TypeScript fallbacks of the batch-value kernels (see KERNELS.normalizeRows, log1p,
// csrColumnMoments, findBadValue, firstNonInteger and findBadIndex).

import type { KernelArgs } from "./types.js";

/**
 * log1p of a float32 value, computed as log(1 + x) in double: for |x| >= 1e-4, 1 + x is exact in
 * double for every float32 x (or, past 2^53, off by far less than a float32 ulp), and Math.log is
 * ~5x faster than Math.log1p in V8. Below 1e-4 the series x - x^2/2 + x^3/3 - x^4/4 is accurate to
 * 2e-17 relative. Rounded to float32 the results equal Math.log1p's (checked on 10^7 values).
 */
export function log1pFloat32(x: number): number {
  return x < 1e-4 && x > -1e-4 ? x * (1 - x * (0.5 - x * (1 / 3 - x * 0.25))) : Math.log(1 + x);
}

export function log1pTs(args: KernelArgs<"log1p">): number {
  const { n, x, y } = args;
  // Checked first, so that the input is intact when a negative value is reported.
  for (let i = 0; i < n; i++) if (x[i]! < 0) return i;
  for (let i = 0; i < n; i++) y[i] = log1pFloat32(x[i]!);
  return n;
}

export function findBadValueTs(args: KernelArgs<"findBadValue">): number {
  const { n, x, nonnegative, copyTo } = args;
  copyTo?.set(x.subarray(0, n));
  for (let p = 0; p < n; p++) {
    const v = x[p]!;
    // v - v is 0 for finite v, NaN for NaN and +-inf.
    if (v - v !== 0 || (nonnegative && v < 0)) return p;
  }
  return n;
}

export function firstNonIntegerTs(args: KernelArgs<"firstNonInteger">): number {
  const { n, x } = args;
  for (let p = 0; p < n; p++) {
    const v = x[p]!;
    if (Math.trunc(v) !== v) return p;
  }
  return n;
}

export function findBadIndexTs(args: KernelArgs<"findBadIndex">): number {
  const { rows, indptr, indices, cols, copyTo } = args;
  const nnz = rows === 0 ? 0 : indptr[rows]!;
  copyTo?.set(indices.subarray(0, nnz));
  for (let i = 0; i < rows; i++) {
    let previous = -1;
    for (let p = indptr[i]!; p < indptr[i + 1]!; p++) {
      const c = indices[p]!;
      if (c >= cols || c <= previous) return p;
      previous = c;
    }
  }
  return nnz;
}

/** Returns the position of the first index outside [0, moments.length / 3), or indices.length (the raw form). */
export function csrColumnMomentsTs(args: KernelArgs<"csrColumnMoments">): number {
  const { indices, values, shift, moments } = args;
  const nGenes = moments.length / 3;
  for (let p = 0; p < indices.length; p++) {
    const g = indices[p]!;
    if (!(g >= 0 && g < nGenes)) return p;
    const d = shift === null ? values[p]! : values[p]! - shift[g]!;
    moments[3 * g]! += d;
    moments[3 * g + 1]! += d * d;
    moments[3 * g + 2]!++;
  }
  return indices.length;
}

export function normalizeRowsTs(args: KernelArgs<"normalizeRows">): number {
  const { rows, rowPtr, rowLen, x, target, eps, totals, y } = args;
  const target32 = Math.fround(target);
  const eps32 = Math.fround(eps);
  for (let i = 0; i < rows; i++) {
    const start = rowPtr === null ? i * rowLen : rowPtr[i]!;
    const end = rowPtr === null ? start + rowLen : rowPtr[i + 1]!;
    let total = 0;
    for (let p = start; p < end; p++) {
      const v = x[p]!;
      if (v < 0) return p;
      total += v;
    }
    if (totals !== null) total = totals[i]!;
    // A float32 quotient of two float32 values computed in double and rounded once is the
    // correctly rounded float32 quotient, i.e. what float32 division gives.
    const d = Math.fround(Math.fround(total) + eps32);
    for (let p = start; p < end; p++) y[p] = Math.fround(target32 * x[p]!) / d;
  }
  return rowPtr === null ? rows * rowLen : rows === 0 ? 0 : rowPtr[rows]!;
}
