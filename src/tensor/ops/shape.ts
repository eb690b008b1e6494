// Shape ops. reshape (and view, squeeze, unsqueeze, flatten) share the input's buffer; permute,
// transpose, slice, expand, concat and stack copy into a new contiguous buffer.

import { ArgumentError } from "../../errors.js";
import { kernels } from "../kernels/index.js";
import {
  broadcastShapes,
  broadcastStrides,
  contiguousStrides,
  gatherStrided,
  normalizeAxes,
  normalizeAxis,
  scatterStrided,
  sumToShape,
} from "../strided.js";
import { allocate, type FloatArray, formatShape, record, sameShape, sizeOf, Tensor } from "../tensor.js";

/** x with a new shape of the same size (one entry may be -1: inferred). Shares the buffer. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const inferred = shape.indexOf(-1);
  let target = [...shape];
  if (inferred >= 0) {
    const known = sizeOf(shape.filter((_, i) => i !== inferred));
    if (known === 0 || x.size % known !== 0 || shape.lastIndexOf(-1) !== inferred) {
      throw new ArgumentError(
        `reshape: cannot infer ${formatShape(shape)} from shape ${formatShape(x.shape)}`,
      );
    }
    target = shape.map((d) => (d === -1 ? x.size / known : d));
  }
  if (sizeOf(target) !== x.size || target.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ArgumentError(`reshape: shape ${formatShape(x.shape)} cannot become ${formatShape(shape)}`);
  }
  if (sameShape(target, x.shape)) return x;
  return record("reshape", new Tensor(x.data, target), [x], (g) => [new Tensor(g.data, x.shape)]);
}

/** The same as reshape (tensors are always contiguous, so every reshape is a view). */
export const view = reshape;

/** Merges axes startAxis..endAxis into one. */
export function flatten(x: Tensor, startAxis = 0, endAxis = -1): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normalizeAxis(startAxis, x.ndim, "flatten");
  const e = normalizeAxis(endAxis, x.ndim, "flatten");
  if (s > e) throw new ArgumentError(`flatten: startAxis ${startAxis} is after endAxis ${endAxis}`);
  return reshape(x, [...x.shape.slice(0, s), sizeOf(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)]);
}

/** Removes the given size-1 axes (all size-1 axes when none are given). */
export function squeeze(x: Tensor, axes?: number | readonly number[]): Tensor {
  const drop =
    axes === undefined
      ? x.shape.map((_, i) => i).filter((i) => x.shape[i] === 1)
      : normalizeAxes(axes, x.ndim, "squeeze");
  for (const a of drop) {
    if (x.shape[a] !== 1)
      throw new ArgumentError(`squeeze: axis ${a} of shape ${formatShape(x.shape)} is not 1`);
  }
  return reshape(
    x,
    x.shape.filter((_, i) => !drop.includes(i)),
  );
}

/** Inserts a size-1 axis at position axis (negative counts from the end of the result). */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normalizeAxis(axis, x.ndim + 1, "unsqueeze");
  return reshape(x, [...x.shape.slice(0, a), 1, ...x.shape.slice(a)]);
}

/** Reorders the axes: result axis i is input axis axes[i]. Copies. */
export function permute(x: Tensor, axes: readonly number[]): Tensor {
  const order = axes.map((a) => normalizeAxis(a, x.ndim, "permute"));
  if (order.length !== x.ndim || new Set(order).size !== x.ndim) {
    throw new ArgumentError(`permute: [${axes.join(", ")}] is not a permutation of ${x.ndim} axes`);
  }
  if (order.every((a, i) => a === i)) return x;
  const strides = contiguousStrides(x.shape);
  const out =
    x.ndim === 2 && x.dtype !== "int32"
      ? transposed(x)
      : gatherStrided(
          x,
          0,
          order.map((a) => strides[a]!),
          order.map((a) => x.shape[a]!),
        );
  const inverse = new Array<number>(order.length);
  order.forEach((a, i) => {
    inverse[a] = i;
  });
  return record("permute", out, [x], (g) => [permute(g, inverse)]);
}

/** The transpose of a 2-D float tensor (weights go through it at every step: a kernel). */
function transposed(x: Tensor): Tensor {
  const [rows, cols] = x.shape as [number, number];
  const out = allocate(x.dtype, x.size) as FloatArray;
  kernels().transpose({ rows, cols, src: x.data as FloatArray, dst: out });
  return new Tensor(out, [cols, rows]);
}

/** Swaps two axes (by default the last two). Copies. */
export function transpose(x: Tensor, axis0 = -2, axis1 = -1): Tensor {
  const a = normalizeAxis(axis0, x.ndim, "transpose");
  const b = normalizeAxis(axis1, x.ndim, "transpose");
  const order = x.shape.map((_, i) => i);
  order[a] = b;
  order[b] = a;
  return permute(x, order);
}

/**
 * Elements start, start + step, ... below end along axis, Python-style: negative start/end count
 * from the end and are clamped to the axis. step must be positive. Copies.
 */
export function slice(x: Tensor, axis: number, start = 0, end?: number, step = 1): Tensor {
  const a = normalizeAxis(axis, x.ndim, "slice");
  const len = x.shape[a]!;
  if (!Number.isInteger(step) || step <= 0)
    throw new ArgumentError(`slice: step must be a positive integer, got ${step}`);
  const clamp = (i: number) => Math.min(len, Math.max(0, i < 0 ? i + len : i));
  const s = clamp(start);
  const e = clamp(end ?? len);
  const count = Math.max(0, Math.ceil((e - s) / step));
  const strides = contiguousStrides(x.shape);
  const offset = s * strides[a]!;
  const sliceStrides = strides.map((st, i) => (i === a ? st * step : st));
  const shape = x.shape.map((d, i) => (i === a ? count : d));
  const out = gatherStrided(x, offset, sliceStrides, shape);
  return record("slice", out, [x], (g) => [scatterStrided(g, x.shape, offset, sliceStrides)]);
}

/** x broadcast to shape (-1 keeps an axis). Copies; the gradient sums over the broadcast axes. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const lead = shape.length - x.ndim;
  const target = shape.map((d, i) => (d === -1 ? x.shape[i - lead]! : d));
  if (lead < 0 || !sameShape(broadcastShapes([x.shape, target], "expand"), target)) {
    throw new ArgumentError(`expand: shape ${formatShape(x.shape)} cannot expand to ${formatShape(shape)}`);
  }
  if (sameShape(target, x.shape)) return x;
  const out = gatherStrided(x, 0, broadcastStrides(x.shape, target), target);
  return record("expand", out, [x], (g) => [sumToShape(g, x.shape)]);
}

/** Joins tensors of one dtype along an existing axis; other axes must agree. */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  const first = tensors[0];
  if (first === undefined) throw new ArgumentError("concat: needs at least one tensor");
  const a = normalizeAxis(axis, first.ndim, "concat");
  for (const t of tensors) {
    const agrees = t.ndim === first.ndim && t.shape.every((d, i) => i === a || d === first.shape[i]);
    if (!agrees || t.dtype !== first.dtype) {
      throw new ArgumentError(
        `concat: ${t.dtype}${formatShape(t.shape)} does not match ${first.dtype}${formatShape(first.shape)} along axis ${a}`,
      );
    }
  }
  const outer = sizeOf(first.shape.slice(0, a));
  const inner = sizeOf(first.shape.slice(a + 1));
  const total = tensors.reduce((acc, t) => acc + t.shape[a]!, 0);
  const shape = first.shape.map((d, i) => (i === a ? total : d));
  const out = allocate(first.dtype, sizeOf(shape));
  const rowOut = total * inner;
  let start = 0;
  for (const t of tensors) {
    const chunk = t.shape[a]! * inner;
    for (let o = 0; o < outer; o++)
      out.set(t.data.subarray(o * chunk, (o + 1) * chunk), o * rowOut + start * inner);
    start += t.shape[a]!;
  }
  const starts = tensors.map((_, i) => tensors.slice(0, i).reduce((acc, t) => acc + t.shape[a]!, 0));
  return record("concat", new Tensor(out, shape), tensors, (g) =>
    tensors.map((t, i) => (t.requiresGrad ? slice(g, a, starts[i], starts[i]! + t.shape[a]!) : null)),
  );
}

/** Joins tensors of one shape along a new axis. */
export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  const first = tensors[0];
  if (first === undefined) throw new ArgumentError("stack: needs at least one tensor");
  for (const t of tensors) {
    if (!sameShape(t.shape, first.shape)) {
      throw new ArgumentError(
        `stack: shape ${formatShape(t.shape)} differs from ${formatShape(first.shape)}`,
      );
    }
  }
  const a = normalizeAxis(axis, first.ndim + 1, "stack");
  return concat(
    tensors.map((t) => unsqueeze(t, a)),
    a,
  );
}
