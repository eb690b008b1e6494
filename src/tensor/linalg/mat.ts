// Raw matrices for the linear algebra: a contiguous row-major typed array and its shape, no strides,
// no autograd. The Tensor layer builds on these; models that only need a decomposition use them as is.

import { ArgumentError } from "../../errors.js";
import { kernels } from "../kernels/index.js";
import type { FloatArray } from "../kernels/types.js";

/** A dense row-major matrix: element (i, j) is data[i * cols + j], and data.length is rows * cols. */
export interface Mat<T extends FloatArray = FloatArray> {
  readonly rows: number;
  readonly cols: number;
  readonly data: T;
}

/** A zero rows x cols matrix with the dtype of `like`. */
export function zerosLike<T extends FloatArray>(like: T, rows: number, cols: number): Mat<T> {
  const Constructor = like.constructor as new (length: number) => T;
  return { rows, cols, data: new Constructor(rows * cols) };
}

/** Throws ArgumentError unless `m` is a consistent Mat; `fn` and `name` go into the message. */
export function checkMat(fn: string, name: string, m: Mat): void {
  const { rows, cols, data } = m;
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0) {
    throw new ArgumentError(
      `${fn}: ${name} must have non-negative integer rows and cols, got ${rows} x ${cols}`,
    );
  }
  if (!(data instanceof Float32Array || data instanceof Float64Array)) {
    throw new ArgumentError(`${fn}: ${name}.data must be a Float32Array or Float64Array`);
  }
  if (data.length !== rows * cols) {
    throw new ArgumentError(`${fn}: ${name} is ${rows} x ${cols} but has ${data.length} elements`);
  }
}

/** op(A) op(B), where op transposes when asked (no copy: the kernel reads the transpose in place). */
export function matmul<T extends FloatArray>(a: Mat<T>, b: Mat<T>, transA = false, transB = false): Mat<T> {
  checkMat("matmul", "a", a);
  checkMat("matmul", "b", b);
  const [m, k] = transA ? [a.cols, a.rows] : [a.rows, a.cols];
  const [kb, n] = transB ? [b.cols, b.rows] : [b.rows, b.cols];
  if (k !== kb) {
    throw new ArgumentError(
      `matmul: inner dimensions differ, op(a) is ${m} x ${k} and op(b) is ${kb} x ${n}`,
    );
  }
  const c = zerosLike(a.data, m, n);
  kernels().gemm({
    transA,
    transB,
    m,
    n,
    k,
    alpha: 1,
    a: a.data,
    lda: Math.max(1, a.cols),
    b: b.data,
    ldb: Math.max(1, b.cols),
    beta: 0,
    c: c.data,
    ldc: Math.max(1, n),
  });
  return c;
}
