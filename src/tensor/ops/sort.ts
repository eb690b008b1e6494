// Sorting along an axis. Sorts are stable (equal values keep their index order, also when
// descending) and put NaN after every number ascending and before every number descending, as
// torch does. Values come from gather, so they are differentiable.

import { ArgumentError } from "../../errors.js";
import { normalizeAxis } from "../strided.js";
import { formatShape, Tensor } from "../tensor.js";
import { gather } from "./indexing.js";
import { permute, slice } from "./shape.js";

export interface SortOptions {
  /** Default -1 (the last axis). */
  axis?: number;
  descending?: boolean;
}

export interface SortResult {
  values: Tensor;
  /** int32 positions along the axis. */
  indices: Tensor;
}

// The permutation that moves axis to the end, and its inverse.
function axisLast(axis: number, ndim: number): { order: number[]; inverse: number[] } {
  const order = Array.from({ length: ndim }, (_, i) => i).filter((i) => i !== axis);
  order.push(axis);
  const inverse = new Array<number>(ndim);
  order.forEach((a, i) => {
    inverse[a] = i;
  });
  return { order, inverse };
}

function argsortRows(x: Tensor, descending: boolean): Tensor {
  const len = x.shape[x.ndim - 1] ?? 1;
  const rows = len === 0 ? 0 : x.size / len;
  const out = new Int32Array(x.size);
  const data = x.data;
  const sign = descending ? -1 : 1;
  const order = Array.from({ length: len }, (_, i) => i);
  for (let r = 0; r < rows; r++) {
    const base = r * len;
    for (let i = 0; i < len; i++) order[i] = i;
    order.sort((i, j) => {
      const a = data[base + i]!;
      const b = data[base + j]!;
      if (a < b) return -sign;
      if (a > b) return sign;
      const aNaN = Number.isNaN(a);
      if (aNaN !== Number.isNaN(b)) return aNaN === descending ? -1 : 1;
      return i - j;
    });
    for (let i = 0; i < len; i++) out[base + i] = order[i]!;
  }
  return new Tensor(out, x.shape);
}

// Row-wise argsort after moving axis last; keep limits each row to its first entries (topk).
function sortAlong(
  x: Tensor,
  axis: number,
  descending: boolean,
  keep: number | undefined,
  withValues: boolean,
): { values: Tensor | null; indices: Tensor } {
  const { order, inverse } = axisLast(axis, x.ndim);
  const moved = permute(x, order);
  let indices = argsortRows(moved, descending);
  if (keep !== undefined) indices = slice(indices, -1, 0, keep);
  const values = withValues ? permute(gather(moved, -1, indices), inverse) : null;
  return { values, indices: permute(indices, inverse) };
}

/** Sorted values along an axis and their original positions. */
export function sort(x: Tensor, options: SortOptions = {}): SortResult {
  if (x.ndim === 0) return { values: x, indices: new Tensor(new Int32Array(1), []) };
  const axis = normalizeAxis(options.axis ?? -1, x.ndim, "sort");
  const { values, indices } = sortAlong(x, axis, options.descending ?? false, undefined, true);
  return { values: values!, indices };
}

/** The positions that sort x along an axis (int32). */
export function argsort(x: Tensor, options: SortOptions = {}): Tensor {
  if (x.ndim === 0) return new Tensor(new Int32Array(1), []);
  const axis = normalizeAxis(options.axis ?? -1, x.ndim, "argsort");
  return sortAlong(x, axis, options.descending ?? false, undefined, false).indices;
}

/**
 * The k largest (or smallest) values along an axis, in sorted order, with their positions; ties
 * keep index order.
 */
export function topk(x: Tensor, k: number, options: { axis?: number; largest?: boolean } = {}): SortResult {
  const axis = normalizeAxis(options.axis ?? -1, x.ndim, "topk");
  const len = x.shape[axis]!;
  if (!Number.isInteger(k) || k < 0 || k > len) {
    throw new ArgumentError(
      `topk: k = ${k} is out of range for axis ${axis} of shape ${formatShape(x.shape)}`,
    );
  }
  const { values, indices } = sortAlong(x, axis, options.largest ?? true, k, true);
  return { values: values!, indices };
}
