// The Tensor: a dtype, a shape and a contiguous row-major typed array, plus what reverse-mode
// autograd needs (requiresGrad, grad, the node that made it, gradient hooks).
//
// Data is always contiguous: reshape shares the buffer, every other shape op copies. Kernels then
// never deal with strides, and a view can never be mistaken for its base.
//
// Axis letters used in names across the project: n cells, g genes, k components, c categories,
// b batch, h hidden, s sequence positions.

import { ArgumentError } from "../errors.js";

export type DType = "float32" | "float64" | "int32";
export type FloatDType = "float32" | "float64";
export type TypedArray = Float32Array | Float64Array | Int32Array;
export type FloatArray = Float32Array | Float64Array;

/** Nested arrays of numbers, as returned by toArray() (a number for a 0-d tensor). */
export type NestedArray = number | NestedArray[];

/** A function from the gradient of an op's output to the gradients of its inputs (null: none needed). */
export type BackwardFn = (grad: Tensor) => ReadonlyArray<Tensor | null>;

/** One recorded op on the tape: its inputs and the closure that maps output to input gradients. */
export interface GradNode {
  readonly name: string;
  readonly inputs: readonly Tensor[];
  readonly backward: BackwardFn;
}

export type GradHook = (grad: Tensor) => Tensor;

let gradEnabled = true;

/** Whether ops currently record the tape. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording any op on the tape (outputs do not require grad). */
export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

export function sizeOf(shape: readonly number[]): number {
  let size = 1;
  for (const d of shape) size *= d;
  return size;
}

export function allocate(dtype: DType, size: number): TypedArray {
  if (dtype === "float32") return new Float32Array(size);
  if (dtype === "float64") return new Float64Array(size);
  return new Int32Array(size);
}

export function dtypeOf(data: TypedArray): DType {
  if (data instanceof Float32Array) return "float32";
  if (data instanceof Float64Array) return "float64";
  return "int32";
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/**
 * An n-dimensional float32, float64 or int32 array with reverse-mode autograd, the numeric type of
 * models and layers (torch.Tensor's role). Data are a flat row-major typed array; ops are free
 * functions (`add`, `matmul`, `sum`, ...), recorded in a graph when an input requires grad, and
 * `backward()` fills the leaves' `grad`. Heavy ops run in the native OpenBLAS addon when it is
 * built, else in TypeScript, with the same results up to rounding.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { matmul, sum, tensor } from "cellarium-ts";
 *
 * const w = tensor([[1, 2], [3, 4]]).requireGrad(); // float32 [2, 2], a leaf that requires grad
 * const x = tensor([[1], [1]]);
 * const loss = sum(matmul(w, x)); // (1 + 2) + (3 + 4)
 * assert.equal(loss.item(), 10);
 * loss.backward();
 * assert.deepEqual(w.grad!.toArray(), [[1, 1], [1, 1]]);
 * ```
 */
export class Tensor {
  /** The element type: "float32", "float64" or "int32", from the typed array. */
  readonly dtype: DType;
  /** The dimensions, outermost first (frozen). */
  readonly shape: readonly number[];
  /** The values, row-major, shared (not copied) with whoever made the tensor. */
  readonly data: TypedArray;
  /** The number of elements, the product of the shape. */
  readonly size: number;
  /** Accumulated gradient of a tensor that requires grad (leaves only; hooks applied). */
  grad: Tensor | null = null;
  /** The op that produced this tensor, when it was recorded; null for leaves. */
  gradFn: GradNode | null = null;
  private requiresGradFlag = false;
  private hooks: GradHook[] = [];

  /** Wraps `data` (not copied) as a tensor of `shape`; its length must equal the shape's size. */
  constructor(data: TypedArray, shape: readonly number[]) {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) {
        throw new ArgumentError(`Tensor: shape must hold non-negative integers, got ${formatShape(shape)}`);
      }
    }
    const size = sizeOf(shape);
    if (data.length !== size) {
      throw new ArgumentError(
        `Tensor: data length ${data.length} does not match shape ${formatShape(shape)} (size ${size})`,
      );
    }
    this.data = data;
    this.dtype = dtypeOf(data);
    this.shape = Object.freeze([...shape]);
    this.size = size;
  }

  /** The number of dimensions. */
  get ndim(): number {
    return this.shape.length;
  }

  /** Whether ops on this tensor are recorded for `backward()`. */
  get requiresGrad(): boolean {
    return this.requiresGradFlag;
  }

  /** Marks a leaf as requiring grad (int32 tensors never do). */
  set requiresGrad(value: boolean) {
    if (value && this.dtype === "int32") {
      throw new ArgumentError("Tensor.requiresGrad: int32 tensors cannot require grad");
    }
    if (!value && this.gradFn !== null) {
      throw new ArgumentError("Tensor.requiresGrad: cannot clear it on a non-leaf; use detach()");
    }
    this.requiresGradFlag = value;
  }

  /** Sets requiresGrad and returns this tensor, for chaining at creation. */
  requireGrad(value = true): this {
    this.requiresGrad = value;
    return this;
  }

  /**
   * True for a tensor no recorded op produced (parameters, inputs): the ones whose `grad` `backward()` fills.
   */
  get isLeaf(): boolean {
    return this.gradFn === null;
  }

  /** A tensor sharing this data, outside the graph. */
  detach(): Tensor {
    return new Tensor(this.data, this.shape);
  }

  /**
   * Registers fn to transform this tensor's gradient before it is accumulated (leaves) or passed on
   * (non-leaves). muP multiplies the gradients of hidden weights this way.
   */
  registerHook(fn: GradHook): void {
    if (!this.requiresGradFlag) {
      throw new ArgumentError("Tensor.registerHook: the tensor does not require grad");
    }
    this.hooks.push(fn);
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) {
      throw new ArgumentError(`Tensor.item: needs one element, the shape is ${formatShape(this.shape)}`);
    }
    return this.data[0]!;
  }

  /** The values as nested arrays following the shape (a number for a 0-d tensor). */
  toArray(): NestedArray {
    const build = (axis: number, offset: number): NestedArray => {
      if (axis === this.shape.length) return this.data[offset]!;
      const inner = sizeOf(this.shape.slice(axis + 1));
      return Array.from({ length: this.shape[axis]! }, (_, i) => build(axis + 1, offset + i * inner));
    };
    return build(0, 0);
  }

  /** A copy with its own buffer (outside the graph). */
  clone(): Tensor {
    return new Tensor(this.data.slice(), this.shape);
  }

  /**
   * Back-propagates from this tensor: gradOutput (default 1 for a one-element tensor) flows to every
   * leaf requiring grad, whose `grad` accumulates until zeroed.
   */
  backward(gradOutput?: Tensor): void {
    if (!this.requiresGradFlag) {
      throw new ArgumentError("Tensor.backward: the tensor does not require grad");
    }
    let seed: Tensor;
    if (gradOutput === undefined) {
      if (this.size !== 1) {
        throw new ArgumentError(
          `Tensor.backward: gradOutput is needed for shape ${formatShape(this.shape)} (only one-element outputs default to 1)`,
        );
      }
      seed = new Tensor(allocate(this.dtype, 1).fill(1), this.shape);
    } else {
      if (gradOutput.dtype !== this.dtype || !sameShape(gradOutput.shape, this.shape)) {
        throw new ArgumentError(
          `Tensor.backward: gradOutput ${gradOutput.dtype}${formatShape(gradOutput.shape)} does not match ${this.dtype}${formatShape(this.shape)}`,
        );
      }
      seed = gradOutput;
    }
    noGrad(() => runBackward(this, seed));
  }

  /** Makes this tensor the output of a recorded op (called by record()). */
  attachGradFn(node: GradNode): void {
    this.gradFn = node;
    this.requiresGradFlag = true;
  }

  /** Applies the registered hooks to a gradient (used by the backward pass). */
  applyHooks(grad: Tensor): Tensor {
    for (const hook of this.hooks) grad = hook(grad);
    return grad;
  }

  /** A short description (dtype and shape) for messages and logs. */
  toString(): string {
    return `Tensor(${this.dtype}${formatShape(this.shape)})`;
  }
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// Depth-first post-order from the output over recorded nodes, iterative so that deep graphs
// cannot overflow the call stack; reversed, it lists every tensor after all its consumers.
function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>([root]);
  const stack: Array<{ tensor: Tensor; next: number }> = [{ tensor: root, next: 0 }];
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    const inputs = frame.tensor.gradFn?.inputs ?? [];
    if (frame.next < inputs.length) {
      const input = inputs[frame.next++]!;
      if (input.requiresGrad && !visited.has(input)) {
        visited.add(input);
        stack.push({ tensor: input, next: 0 });
      }
    } else {
      order.push(frame.tensor);
      stack.pop();
    }
  }
  return order.reverse();
}

function addInto(target: TypedArray, source: TypedArray): void {
  for (let i = 0; i < target.length; i++) target[i]! += source[i]!;
}

function checkGrad(tensor: Tensor, grad: Tensor, op: string): void {
  if (grad.dtype !== tensor.dtype || !sameShape(grad.shape, tensor.shape)) {
    throw new Error(
      `backward of ${op}: gradient ${grad.dtype}${formatShape(grad.shape)} for input ${tensor.dtype}${formatShape(tensor.shape)}`,
    );
  }
}

function runBackward(root: Tensor, seed: Tensor): void {
  const grads = new Map<Tensor, Tensor>([[root, seed]]);
  // A gradient stored in the map may alias a buffer an op still uses (reshape shares data), so
  // sums of gradients go to fresh buffers; `owned` marks those that may be added into in place.
  const owned = new Set<Tensor>();
  for (const tensor of topologicalOrder(root)) {
    let grad = grads.get(tensor);
    if (grad === undefined) continue;
    grads.delete(tensor);
    grad = tensor.applyHooks(grad);
    const node = tensor.gradFn;
    if (node === null) {
      if (tensor.grad === null) tensor.grad = owned.has(grad) ? grad : grad.clone();
      else addInto(tensor.grad.data, grad.data);
      continue;
    }
    const inputGrads = node.backward(grad);
    node.inputs.forEach((input, i) => {
      const g = inputGrads[i];
      if (!input.requiresGrad || g === null || g === undefined) return;
      checkGrad(input, g, node.name);
      const existing = grads.get(input);
      if (existing === undefined) {
        grads.set(input, g);
      } else if (owned.has(existing)) {
        addInto(existing.data, g.data);
      } else {
        const sum = existing.clone();
        addInto(sum.data, g.data);
        owned.add(sum);
        grads.set(input, sum);
      }
    });
  }
}

/**
 * Records an op on the tape when grad is enabled and an input requires grad: the output then
 * requires grad and back-propagates through `backward`. Returns the output.
 */
export function record(
  name: string,
  output: Tensor,
  inputs: readonly Tensor[],
  backward: BackwardFn,
): Tensor {
  if (!gradEnabled || output.dtype === "int32") return output;
  if (!inputs.some((t) => t.requiresGrad)) return output;
  output.attachGradFn({ name, inputs, backward });
  return output;
}
