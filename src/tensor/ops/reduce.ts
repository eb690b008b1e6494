// Reductions over axes: sum, mean, max, min, var, logsumexp, argmax, argmin.
// `axes` is one axis, a list, or undefined for all; keepdim keeps reduced axes as size 1.

import { ArgumentError } from "../../errors.js";
import {
  broadcastStrides,
  contiguousStrides,
  gatherStrided,
  normalizeAxes,
  normalizeAxis,
  stridedLoop,
  sumToShape,
} from "../strided.js";
import { allocate, formatShape, noGrad, record, sizeOf, Tensor } from "../tensor.js";
import { cast } from "./creation.js";
import { add, div, eq, exp, log, mul, square, sub } from "./elementwise.js";
import { reshape } from "./shape.js";

export type Axes = number | readonly number[];

export interface ReduceOptions {
  keepdim?: boolean;
}

interface Plan {
  /** The input shape with reduced axes set to 1. */
  keepShape: number[];
  /** The output shape (keepShape, or without the reduced axes). */
  outShape: number[];
  /** How many elements each output element reduces. */
  count: number;
}

function plan(x: Tensor, axes: Axes | undefined, keepdim: boolean | undefined, op: string): Plan {
  const reduced = normalizeAxes(axes, x.ndim, op);
  const keepShape = x.shape.map((d, i) => (reduced.includes(i) ? 1 : d));
  const outShape = keepdim ? keepShape : x.shape.filter((_, i) => !reduced.includes(i));
  return { keepShape, outShape, count: x.size / Math.max(1, sizeOf(keepShape)) };
}

/** Broadcasts t (whose shape broadcasts to `shape`) to a contiguous tensor of `shape`. */
function broadcastTo(t: Tensor, shape: readonly number[]): Tensor {
  return gatherStrided(t, 0, broadcastStrides(t.shape, shape), shape);
}

/**
 * Sum over `axes` (all when absent; negative axes count from the end), dropping them unless
 * `options.keepdim`; torch.sum(x, dim, keepdim).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mean, sum, tensor } from "cellarium-ts";
 *
 * const x_ng = tensor([[1, 2, 3], [4, 5, 6]]);
 * assert.deepEqual(sum(x_ng, 1).toArray(), [6, 15]); // per cell
 * assert.deepEqual(mean(x_ng, 0, { keepdim: true }).toArray(), [[2.5, 3.5, 4.5]]); // per gene
 * assert.equal(sum(x_ng).item(), 21);
 * ```
 */
export function sum(x: Tensor, axes?: Axes, options: ReduceOptions = {}): Tensor {
  const p = plan(x, axes, options.keepdim, "sum");
  const reduced = sumToShape(x, p.keepShape);
  const data = reduced === x ? x.data.slice() : reduced.data;
  return record("sum", new Tensor(data, p.outShape), [x], (g) => [
    broadcastTo(new Tensor(g.data, p.keepShape), x.shape),
  ]);
}

/** Mean over `axes` (all when absent), as {@link sum}; int32 input gives float32. */
export function mean(x: Tensor, axes?: Axes, options: ReduceOptions = {}): Tensor {
  const p = plan(x, axes, options.keepdim, "mean");
  return div(sum(x.dtype === "int32" ? cast(x, "float32") : x, axes, options), p.count);
}

/** Variance over axes with Bessel's correction by default (correction = 1, as torch.var). */
export function variance(
  x: Tensor,
  axes?: Axes,
  options: ReduceOptions & { correction?: number } = {},
): Tensor {
  const p = plan(x, axes, options.keepdim, "variance");
  const centered = sub(x, mean(x, axes, { keepdim: true }));
  return div(sum(square(centered), axes, options), p.count - (options.correction ?? 1));
}

function extreme(x: Tensor, axes: Axes | undefined, options: ReduceOptions, isMax: boolean): Tensor {
  const op = isMax ? "max" : "min";
  const p = plan(x, axes, options.keepdim, op);
  if (p.count === 0)
    throw new ArgumentError(`${op}: cannot reduce an empty axis of shape ${formatShape(x.shape)}`);
  const out = allocate(x.dtype, sizeOf(p.keepShape)).fill(isMax ? -Infinity : Infinity);
  const src = x.data;
  // NaN wins, as in torch: once the accumulator is NaN no comparison replaces it.
  stridedLoop(
    x.shape,
    [broadcastStrides(p.keepShape, x.shape), contiguousStrides(x.shape)],
    (n, off, inner) => {
      let o = off[0]!;
      let i = off[1]!;
      const os = inner[0]!;
      const is = inner[1]!;
      for (let j = 0; j < n; j++, i += is, o += os) {
        const v = src[i]!;
        const acc = out[o]!;
        if (isMax ? v > acc || Number.isNaN(v) : v < acc || Number.isNaN(v)) out[o] = v;
      }
    },
  );
  const keep = new Tensor(out, p.keepShape);
  return record(op, new Tensor(out, p.outShape), [x], (g) => {
    // The gradient goes to the elements equal to the extreme, split evenly among ties (torch's amax).
    const hits = cast(eq(x, broadcastTo(keep, x.shape)), x.dtype);
    const ties = sumToShape(hits, p.keepShape);
    return [mul(hits, broadcastTo(div(new Tensor(g.data, p.keepShape), ties), x.shape))];
  });
}

/** Maximum over `axes` (all when absent); the gradient goes to the maxima. See {@link argmax} for indices. */
export function max(x: Tensor, axes?: Axes, options: ReduceOptions = {}): Tensor {
  return extreme(x, axes, options, true);
}

/** Minimum over `axes` (all when absent); the gradient goes to the minima. See {@link argmin} for indices. */
export function min(x: Tensor, axes?: Axes, options: ReduceOptions = {}): Tensor {
  return extreme(x, axes, options, false);
}

/** log(sum(exp(x))) over axes, shifted by the maximum so that it cannot overflow. */
export function logsumexp(x: Tensor, axes?: Axes, options: ReduceOptions = {}): Tensor {
  const p = plan(x, axes, options.keepdim, "logsumexp");
  const shift = noGrad(() => {
    const m = max(x, axes, { keepdim: true });
    const data = m.data;
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i]!)) data[i] = 0;
    return m;
  });
  return reshape(add(log(sum(exp(sub(x, shift)), axes, { keepdim: true })), shift), p.outShape);
}

function argExtreme(x: Tensor, axis: number, options: ReduceOptions, isMax: boolean): Tensor {
  const op = isMax ? "argmax" : "argmin";
  const a = normalizeAxis(axis, x.ndim, op);
  const len = x.shape[a]!;
  if (len === 0) throw new ArgumentError(`${op}: axis ${axis} of shape ${formatShape(x.shape)} is empty`);
  const inner = sizeOf(x.shape.slice(a + 1));
  const outer = sizeOf(x.shape.slice(0, a));
  const out = new Int32Array(outer * inner);
  const src = x.data;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      let best = 0;
      let bestValue = src[o * len * inner + j]!;
      // The first extreme wins; NaN counts as the extreme, as in torch.
      for (let k = 1; k < len && !Number.isNaN(bestValue); k++) {
        const v = src[(o * len + k) * inner + j]!;
        if (isMax ? v > bestValue || Number.isNaN(v) : v < bestValue || Number.isNaN(v)) {
          best = k;
          bestValue = v;
        }
      }
      out[o * inner + j] = best;
    }
  }
  const shape = options.keepdim
    ? x.shape.map((d, i) => (i === a ? 1 : d))
    : x.shape.filter((_, i) => i !== a);
  return new Tensor(out, shape);
}

/** Index of the largest element along axis (the first at ties), as int32. */
export function argmax(x: Tensor, axis: number, options: ReduceOptions = {}): Tensor {
  return argExtreme(x, axis, options, true);
}

/** Index of the smallest element along axis (the first at ties), as int32. */
export function argmin(x: Tensor, axis: number, options: ReduceOptions = {}): Tensor {
  return argExtreme(x, axis, options, false);
}
