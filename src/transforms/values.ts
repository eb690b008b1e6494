// Small pieces shared by the transforms.

import type { Matrix } from "../data/matrix.js";
import { ArgumentError } from "../errors.js";

/**
 * `x` with its values replaced by `data` (same length). A CSR result shares indptr and indices
 * with `x`: batches are never mutated in place (src/data/batch.ts), so sharing is safe and saves
 * copying the structure at every step.
 */
export function withValues(x: Matrix, data: Float32Array): Matrix {
  return { ...x, data };
}

/** Upstream asserts eps >= 0 (assert_nonnegative) in NormalizeTotal, ZScore and DivideByScale. */
export function checkEps(transform: string, eps: number): void {
  if (!(Number.isFinite(eps) && eps >= 0)) {
    throw new ArgumentError(`${transform}: eps must be a finite number >= 0, got ${eps}`);
  }
}

/** Upstream asserts target_count > 0 (assert_positive) in NormalizeTotal, and so in PFlogPF. */
export function checkTargetCount(transform: string, targetCount: number): void {
  if (!(Number.isFinite(targetCount) && targetCount > 0)) {
    throw new ArgumentError(`${transform}: target_count must be a finite number > 0, got ${targetCount}`);
  }
}

/** Throws unless a per-gene array has one value per gene. */
export function checkLength(
  transform: string,
  name: string,
  values: ArrayLike<number>,
  length: number,
): void {
  if (values.length !== length) {
    throw new ArgumentError(
      `${transform}: ${name} has length ${values.length}, expected ${length} (one per gene)`,
    );
  }
}

/** A float32 copy of per-gene numbers, the dtype of upstream's buffers. */
export function toFloat32(
  transform: string,
  name: string,
  values: ArrayLike<number>,
  length: number,
): Float32Array {
  checkLength(transform, name, values, length);
  return Float32Array.from(values);
}

/** Where row i of x starts in x.data; row i ends where row i + 1 starts. */
export function rowStart(x: Matrix, i: number): number {
  return x.format === "csr" ? x.indptr[i]! : i * x.nCols;
}
