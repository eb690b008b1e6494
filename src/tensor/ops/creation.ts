// Creating tensors. The default dtype is float32, as in PyTorch.

import { ArgumentError } from "../../errors.js";
import type { Generator } from "../random.js";
import {
  allocate,
  type DType,
  dtypeOf,
  type FloatDType,
  formatShape,
  type NestedArray,
  record,
  sizeOf,
  Tensor,
  type TypedArray,
} from "../tensor.js";

export interface CreateOptions {
  dtype?: DType;
  requiresGrad?: boolean;
}

function finish(data: TypedArray, shape: readonly number[], requiresGrad?: boolean): Tensor {
  const t = new Tensor(data, shape);
  if (requiresGrad) t.requiresGrad = true;
  return t;
}

/** A new tensor of `shape` filled with `value` (float32 unless `options.dtype`); torch.full. */
export function full(shape: readonly number[], value: number, options: CreateOptions = {}): Tensor {
  const t = finish(allocate(options.dtype ?? "float32", sizeOf(shape)), shape);
  t.data.fill(value);
  if (options.requiresGrad) t.requiresGrad = true;
  return t;
}

/** A new tensor of zeros (float32 unless `options.dtype`); torch.zeros. */
export function zeros(shape: readonly number[], options: CreateOptions = {}): Tensor {
  return finish(allocate(options.dtype ?? "float32", sizeOf(shape)), shape, options.requiresGrad);
}

/** A new tensor of ones (float32 unless `options.dtype`); torch.ones. */
export function ones(shape: readonly number[], options: CreateOptions = {}): Tensor {
  return full(shape, 1, options);
}

/** A new tensor with `x`'s shape and dtype, filled with `value`; torch.full_like. */
export function fullLike(x: Tensor, value: number, options: CreateOptions = {}): Tensor {
  return full(x.shape, value, { dtype: x.dtype, ...options });
}

/** A new tensor of zeros with `x`'s shape and dtype; torch.zeros_like. */
export function zerosLike(x: Tensor, options: CreateOptions = {}): Tensor {
  return zeros(x.shape, { dtype: x.dtype, ...options });
}

/** A new tensor of ones with `x`'s shape and dtype; torch.ones_like. */
export function onesLike(x: Tensor, options: CreateOptions = {}): Tensor {
  return full(x.shape, 1, { dtype: x.dtype, ...options });
}

/** Values start, start + step, ... below end (above end for a negative step); arange(n) is 0..n-1. */
export function arange(start: number, end?: number, step = 1, options: CreateOptions = {}): Tensor {
  if (end === undefined) {
    end = start;
    start = 0;
  }
  if (step === 0 || !Number.isFinite(step))
    throw new ArgumentError(`arange: step must be non-zero, got ${step}`);
  const count = Math.max(0, Math.ceil((end - start) / step));
  const data = allocate(options.dtype ?? "float32", count);
  for (let i = 0; i < count; i++) data[i] = start + i * step;
  return finish(data, [count], options.requiresGrad);
}

/** The n x m identity (m defaults to n). */
export function eye(n: number, m = n, options: CreateOptions = {}): Tensor {
  const data = allocate(options.dtype ?? "float32", n * m);
  for (let i = 0; i < Math.min(n, m); i++) data[i * m + i] = 1;
  return finish(data, [n, m], options.requiresGrad);
}

function flatten(values: NestedArray, shape: number[], out: number[], depth: number): void {
  if (typeof values === "number") {
    if (depth !== shape.length) throw new ArgumentError("tensor: ragged nested array");
    out.push(values);
    return;
  }
  if (depth === shape.length) shape.push(values.length);
  else if (shape[depth] !== values.length) throw new ArgumentError("tensor: ragged nested array");
  for (const v of values) flatten(v, shape, out, depth + 1);
}

export interface TensorOptions extends CreateOptions {
  /** The shape of flat data (default: the nesting of the arrays, or 1-D for a typed array). */
  shape?: readonly number[];
}

/**
 * A tensor from nested arrays of numbers or from a typed array (copied), as torch.tensor. The dtype
 * defaults to float32 for arrays and to the typed array's own type; `shape` reshapes flat data.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tensor } from "cellarium-ts";
 *
 * const x = tensor([[1, 2, 3], [4, 5, 6]]);
 * assert.deepEqual(x.shape, [2, 3]);
 * assert.equal(x.dtype, "float32");
 * const codes = tensor(new Int32Array([0, 1, 1, 0, 2, 2]), { shape: [3, 2] });
 * assert.equal(codes.dtype, "int32");
 * ```
 * @throws {@link ArgumentError} when `shape` does not hold exactly the values given.
 */
export function tensor(
  values: NestedArray | TypedArray | readonly number[],
  options: TensorOptions = {},
): Tensor {
  let flat: ArrayLike<number>;
  let shape: number[];
  let dtype = options.dtype;
  if (ArrayBuffer.isView(values)) {
    flat = values;
    shape = [values.length];
    dtype ??= dtypeOf(values);
  } else {
    const out: number[] = [];
    shape = [];
    flatten(values as NestedArray, shape, out, 0);
    flat = out;
  }
  if (options.shape !== undefined) {
    if (sizeOf(options.shape) !== flat.length) {
      throw new ArgumentError(
        `tensor: ${flat.length} values do not fill shape ${formatShape(options.shape)}`,
      );
    }
    shape = [...options.shape];
  }
  const data = allocate(dtype ?? "float32", flat.length);
  data.set(flat);
  return finish(data, shape, options.requiresGrad);
}

/** A float tensor of independent standard normal draws (mean and std optional) from `generator`. */
export function randn(
  shape: readonly number[],
  generator: Generator,
  options: { dtype?: FloatDType; mean?: number; std?: number; requiresGrad?: boolean } = {},
): Tensor {
  const data = allocate(options.dtype ?? "float32", sizeOf(shape)) as Float32Array | Float64Array;
  generator.fillNormal(data, options.mean ?? 0, options.std ?? 1);
  return finish(data, shape, options.requiresGrad);
}

/** A float tensor of independent draws uniform on [low, high) from `generator`. */
export function rand(
  shape: readonly number[],
  generator: Generator,
  options: { dtype?: FloatDType; low?: number; high?: number; requiresGrad?: boolean } = {},
): Tensor {
  const data = allocate(options.dtype ?? "float32", sizeOf(shape)) as Float32Array | Float64Array;
  generator.fillUniform(data, options.low ?? 0, options.high ?? 1);
  return finish(data, shape, options.requiresGrad);
}

/**
 * x converted to dtype (x itself when it already has it). Differentiable between float dtypes;
 * conversion to int32 truncates toward zero.
 */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  const data = allocate(dtype, x.size);
  if (dtype === "int32") {
    const src = x.data;
    for (let i = 0; i < src.length; i++) data[i] = Math.trunc(src[i]!);
  } else {
    data.set(x.data);
  }
  const source = x.dtype;
  return record("cast", new Tensor(data, x.shape), [x], (g) => [cast(g, source)]);
}
