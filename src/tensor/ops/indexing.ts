// Indexing ops: gather and scatterAdd (torch semantics along one axis), indexSelect, where and
// maskedFill. Index tensors are int32; negative indices are errors, not counted from the end.

import { ArgumentError } from "../../errors.js";
import {
  broadcastShapes,
  broadcastStrides,
  contiguousStrides,
  normalizeAxis,
  stridedLoop,
  sumToShape,
} from "../strided.js";
import { allocate, formatShape, record, sameShape, sizeOf, Tensor } from "../tensor.js";
import { type Operand, promote } from "./elementwise.js";

function checkIndex(index: Tensor, op: string): Int32Array {
  if (index.dtype !== "int32") throw new ArgumentError(`${op}: index must be int32, got ${index.dtype}`);
  return index.data as Int32Array;
}

/**
 * For each element of `index`, the offset in x of the element it selects along axis (torch.gather:
 * the other coordinates are the index element's own, so index.shape[d] <= x.shape[d] for d != axis).
 */
function gatherOffsets(x: Tensor, axis: number, index: Tensor, op: string): Int32Array {
  const idx = checkIndex(index, op);
  if (index.ndim !== x.ndim || index.shape.some((d, i) => i !== axis && d > x.shape[i]!)) {
    throw new ArgumentError(
      `${op}: index shape ${formatShape(index.shape)} does not fit input shape ${formatShape(x.shape)} at axis ${axis}`,
    );
  }
  const xStrides = contiguousStrides(x.shape);
  const axisStride = xStrides[axis]!;
  const len = x.shape[axis]!;
  const base = xStrides.map((s, i) => (i === axis ? 0 : s));
  const offsets = new Int32Array(index.size);
  stridedLoop(index.shape, [contiguousStrides(index.shape), base], (n, off, inner) => {
    let p = off[0]!;
    let o = off[1]!;
    for (let j = 0; j < n; j++, p++, o += inner[1]!) {
      const k = idx[p]!;
      if (k < 0 || k >= len)
        throw new ArgumentError(`${op}: index ${k} is out of range for axis ${axis} of size ${len}`);
      offsets[p] = o + k * axisStride;
    }
  });
  return offsets;
}

/** out[...i...] = x[... index[...i...] (at axis) ...]; the result has index's shape. */
export function gather(x: Tensor, axis: number, index: Tensor): Tensor {
  const a = normalizeAxis(axis, x.ndim, "gather");
  const offsets = gatherOffsets(x, a, index, "gather");
  const out = allocate(x.dtype, offsets.length);
  const src = x.data;
  for (let i = 0; i < offsets.length; i++) out[i] = src[offsets[i]!]!;
  return record("gather", new Tensor(out, index.shape), [x], (g) => {
    const gx = allocate(g.dtype, x.size);
    const gd = g.data;
    for (let i = 0; i < offsets.length; i++) gx[offsets[i]!]! += gd[i]!;
    return [new Tensor(gx, x.shape)];
  });
}

/**
 * A copy of x with src added at the positions index selects along axis (torch.scatter_add;
 * here src must have index's shape). Repeated indices accumulate.
 */
export function scatterAdd(x: Tensor, axis: number, index: Tensor, src: Tensor): Tensor {
  const a = normalizeAxis(axis, x.ndim, "scatterAdd");
  if (!sameShape(src.shape, index.shape) || src.dtype !== x.dtype) {
    throw new ArgumentError(
      `scatterAdd: src ${src.dtype}${formatShape(src.shape)} must have index's shape ${formatShape(index.shape)} and x's dtype ${x.dtype}`,
    );
  }
  const offsets = gatherOffsets(x, a, index, "scatterAdd");
  const out = x.data.slice();
  const sd = src.data;
  for (let i = 0; i < offsets.length; i++) out[offsets[i]!]! += sd[i]!;
  return record("scatterAdd", new Tensor(out, x.shape), [x, src], (g) => {
    let gsrc: Tensor | null = null;
    if (src.requiresGrad) {
      const data = allocate(g.dtype, offsets.length);
      const gd = g.data;
      for (let i = 0; i < offsets.length; i++) data[i] = gd[offsets[i]!]!;
      gsrc = new Tensor(data, src.shape);
    }
    return [g, gsrc];
  });
}

/** The slices of x at the positions of the 1-D int32 `index` along axis (an embedding lookup at axis 0). */
export function indexSelect(x: Tensor, axis: number, index: Tensor): Tensor {
  const a = normalizeAxis(axis, x.ndim, "indexSelect");
  const idx = checkIndex(index, "indexSelect");
  if (index.ndim !== 1)
    throw new ArgumentError(`indexSelect: index must be 1-D, got ${formatShape(index.shape)}`);
  const len = x.shape[a]!;
  for (const k of idx) {
    if (k < 0 || k >= len)
      throw new ArgumentError(`indexSelect: index ${k} is out of range for axis ${a} of size ${len}`);
  }
  const outer = sizeOf(x.shape.slice(0, a));
  const inner = sizeOf(x.shape.slice(a + 1));
  const count = idx.length;
  const shape = x.shape.map((d, i) => (i === a ? count : d));
  const out = allocate(x.dtype, sizeOf(shape));
  const src = x.data;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < count; j++) {
      const from = (o * len + idx[j]!) * inner;
      out.set(src.subarray(from, from + inner), (o * count + j) * inner);
    }
  }
  return record("indexSelect", new Tensor(out, shape), [x], (g) => {
    const gx = allocate(g.dtype, x.size);
    const gd = g.data;
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < count; j++) {
        const to = (o * len + idx[j]!) * inner;
        const from = (o * count + j) * inner;
        for (let e = 0; e < inner; e++) gx[to + e]! += gd[from + e]!;
      }
    }
    return [new Tensor(gx, x.shape)];
  });
}

/**
 * cond ? a : b elementwise with broadcasting of all three; cond is any tensor, true where non-zero.
 * Differentiable in a and b.
 */
export function where(cond: Tensor, a: Operand, b: Operand): Tensor {
  const [x, y] = promote(a, b, "where");
  const shape = broadcastShapes([cond.shape, x.shape, y.shape], "where");
  const out = allocate(x.dtype, sizeOf(shape));
  const cd = cond.data;
  const xd = x.data;
  const yd = y.data;
  const strides = [cond.shape, x.shape, y.shape].map((s) => broadcastStrides(s, shape));
  stridedLoop(shape, [contiguousStrides(shape), ...strides], (n, off, inner) => {
    let o = off[0]!;
    let c = off[1]!;
    let i = off[2]!;
    let j = off[3]!;
    for (let e = 0; e < n; e++, o++, c += inner[1]!, i += inner[2]!, j += inner[3]!) {
      out[o] = cd[c] !== 0 ? xd[i]! : yd[j]!;
    }
  });
  return record("where", new Tensor(out, shape), [x, y], (g) => [
    x.requiresGrad ? sumToShape(where(cond, g, 0), x.shape) : null,
    y.requiresGrad ? sumToShape(where(cond, 0, g), y.shape) : null,
  ]);
}

/** x with `value` where mask (broadcast to x's shape) is non-zero. */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  if (!sameShape(broadcastShapes([x.shape, mask.shape], "maskedFill"), x.shape)) {
    throw new ArgumentError(
      `maskedFill: mask shape ${formatShape(mask.shape)} does not broadcast to ${formatShape(x.shape)}`,
    );
  }
  return where(mask, value, x);
}
