// Index arithmetic shared by the ops: broadcasting, axis normalization, and one strided loop that
// walks several operands over a common index space. The loop first merges adjacent axes that are
// contiguous in every operand, so a broadcast of a row over a matrix or a permutation of a
// (b, s, h, d) tensor runs as a few long inner segments rather than element by element.

import { ArgumentError } from "../errors.js";
import { allocate, formatShape, sameShape, sizeOf, Tensor } from "./tensor.js";

export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = stride;
    stride *= shape[i]!;
  }
  return strides;
}

/** Normalizes a possibly negative axis of an ndim-dimensional tensor. */
export function normalizeAxis(axis: number, ndim: number, op: string): number {
  if (!Number.isInteger(axis) || axis < -ndim || axis >= ndim) {
    throw new ArgumentError(`${op}: axis ${axis} is out of range for ${ndim} dimensions`);
  }
  return axis < 0 ? axis + ndim : axis;
}

/** Normalized, sorted, distinct axes; undefined means all axes. */
export function normalizeAxes(
  axes: number | readonly number[] | undefined,
  ndim: number,
  op: string,
): number[] {
  if (axes === undefined) return Array.from({ length: ndim }, (_, i) => i);
  const list = typeof axes === "number" ? [axes] : axes;
  const normalized = [...new Set(list.map((a) => normalizeAxis(a, ndim, op)))].sort((x, y) => x - y);
  if (normalized.length !== list.length) {
    throw new ArgumentError(`${op}: repeated axis in [${list.join(", ")}]`);
  }
  return normalized;
}

/** The broadcast of shapes by NumPy's rule (align right; sizes equal or 1). */
export function broadcastShapes(shapes: ReadonlyArray<readonly number[]>, op: string): number[] {
  const ndim = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(ndim).fill(1);
  for (const shape of shapes) {
    const lead = ndim - shape.length;
    for (let i = 0; i < shape.length; i++) {
      const d = shape[i]!;
      const o = out[lead + i]!;
      if (d === o || d === 1) continue;
      if (o !== 1) {
        throw new ArgumentError(`${op}: shapes ${shapes.map(formatShape).join(" and ")} do not broadcast`);
      }
      out[lead + i] = d;
    }
  }
  return out;
}

/** Element strides of a contiguous tensor of `shape` read as `outShape` (0 on broadcast axes). */
export function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const own = contiguousStrides(shape);
  const lead = outShape.length - shape.length;
  return outShape.map((_, i) => (i < lead || shape[i - lead] === 1 ? 0 : own[i - lead]!));
}

/**
 * Calls body(n, offsets, inner) for each run of n elements along the innermost merged axis of
 * `shape`; offsets[k] is operand k's first element, inner[k] its step. `offsets` is reused.
 */
export function stridedLoop(
  shape: readonly number[],
  strides: ReadonlyArray<readonly number[]>,
  body: (n: number, offsets: number[], inner: readonly number[]) => void,
): void {
  const count = strides.length;
  // Drop size-1 axes, then merge axis i into i+1 where every operand steps contiguously.
  const dims: number[] = [];
  const st: number[][] = strides.map(() => []);
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i]!;
    if (d === 0) return;
    if (d === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && st.every((s, k) => s[last] === strides[k]![i]! * d)) {
      dims[last] = dims[last]! * d;
      for (let k = 0; k < count; k++) st[k]![last] = strides[k]![i]!;
    } else {
      dims.push(d);
      for (let k = 0; k < count; k++) st[k]!.push(strides[k]![i]!);
    }
  }
  const offsets = new Array<number>(count).fill(0);
  if (dims.length === 0) {
    body(
      1,
      offsets,
      offsets.map(() => 0),
    );
    return;
  }
  const ndim = dims.length;
  const n = dims[ndim - 1]!;
  const inner = st.map((s) => s[ndim - 1]!);
  const outer = sizeOf(dims) / n;
  const index = new Array<number>(ndim - 1).fill(0);
  for (let r = 0; r < outer; r++) {
    body(n, offsets, inner);
    // Advance the outer multi-index (odometer) and the operands' offsets with it.
    for (let axis = ndim - 2; axis >= 0; axis--) {
      if (++index[axis]! < dims[axis]!) {
        for (let k = 0; k < count; k++) offsets[k]! += st[k]![axis]!;
        break;
      }
      index[axis] = 0;
      for (let k = 0; k < count; k++) offsets[k]! -= st[k]![axis]! * (dims[axis]! - 1);
    }
  }
}

/**
 * Sums x over the axes where `shape` is 1 or missing (leading), giving a tensor of `shape`: the
 * gradient of a broadcast. Returns x itself when the shapes already agree.
 */
export function sumToShape(x: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(x.shape, shape)) return x;
  const out = allocate(x.dtype, sizeOf(shape));
  const src = x.data;
  stridedLoop(x.shape, [broadcastStrides(shape, x.shape), contiguousStrides(x.shape)], (n, off, inner) => {
    let o = off[0]!;
    let i = off[1]!;
    const step = inner[1]!;
    if (inner[0] === 0) {
      let acc = 0;
      for (let j = 0; j < n; j++, i += step) acc += src[i]!;
      out[o]! += acc;
    } else {
      for (let j = 0; j < n; j++, i += step, o++) out[o]! += src[i]!;
    }
  });
  return new Tensor(out, shape);
}

/** Copies the elements at offset + sum(index * strides) of `src`, for every index of `shape`, contiguously. */
export function gatherStrided(
  src: Tensor,
  offset: number,
  strides: readonly number[],
  shape: readonly number[],
): Tensor {
  const out = allocate(src.dtype, sizeOf(shape));
  const data = src.data;
  stridedLoop(shape, [contiguousStrides(shape), strides], (n, off, inner) => {
    let o = off[0]!;
    let i = offset + off[1]!;
    const step = inner[1]!;
    if (step === 1) {
      for (let j = 0; j < n; j++) out[o + j] = data[i + j]!;
    } else {
      for (let j = 0; j < n; j++, i += step, o++) out[o] = data[i]!;
    }
  });
  return new Tensor(out, shape);
}

/** The adjoint of gatherStrided: adds `values` into a zero tensor of `targetShape` at the strided positions. */
export function scatterStrided(
  values: Tensor,
  targetShape: readonly number[],
  offset: number,
  strides: readonly number[],
): Tensor {
  const out = allocate(values.dtype, sizeOf(targetShape));
  const data = values.data;
  stridedLoop(values.shape, [contiguousStrides(values.shape), strides], (n, off, inner) => {
    let v = off[0]!;
    let i = offset + off[1]!;
    const step = inner[1]!;
    for (let j = 0; j < n; j++, i += step, v++) out[i]! += data[v]!;
  });
  return new Tensor(out, targetShape);
}
