// Products of a constant sparse matrix (CSR, e.g. a batch of counts) with a dense tensor that may
// require grad (a weight matrix). The sparse operand is data, never differentiated: a model's
// weights see the batch through X W without the batch being densified, at nnz x k multiply-adds
// each way instead of n x g x k.

import { ArgumentError } from "../../errors.js";
import { kernels } from "../kernels/index.js";
import { allocate, type FloatArray, formatShape, record, Tensor } from "../tensor.js";

/** A compressed-sparse-rows matrix (structurally the data layer's CsrMatrix; tensor/ does not import data/). */
export interface CsrOperand {
  readonly nRows: number;
  readonly nCols: number;
  readonly indptr: Int32Array;
  readonly indices: Int32Array;
  readonly data: Float32Array | Float64Array;
}

/** The CSR form of a dense row-major nRows x nCols block: its non-zeros, row by row (scipy's csr_matrix(dense)). */
export function denseToCsr(
  data: Float32Array,
  nRows: number,
  nCols: number,
): { indptr: Int32Array; indices: Int32Array; data: Float32Array } {
  let nnz = 0;
  for (let p = 0; p < data.length; p++) if (data[p] !== 0) nnz++;
  const indptr = new Int32Array(nRows + 1);
  const indices = new Int32Array(nnz);
  const values = new Float32Array(nnz);
  let q = 0;
  for (let i = 0; i < nRows; i++) {
    const offset = i * nCols;
    for (let j = 0; j < nCols; j++) {
      const v = data[offset + j]!;
      if (v !== 0) {
        indices[q] = j;
        values[q++] = v;
      }
    }
    indptr[i + 1] = q;
  }
  return { indptr, indices, data: values };
}

/**
 * X W for a CSR X [n, g] and a dense float W [g, k]: [n, k] in W's dtype, differentiable in W
 * (dW = X^T dY, from the same non-zeros). Duplicate column entries add up. Both directions run on
 * the CSR kernels (native where the addon is built); X's values are taken in W's dtype.
 */
export function csrMatmul(x: CsrOperand, w: Tensor): Tensor {
  if (w.dtype === "int32" || w.ndim !== 2 || w.shape[0] !== x.nCols) {
    throw new ArgumentError(
      `csrMatmul: W must be a float [${x.nCols}, k] tensor for a CSR X of ${x.nRows} x ${x.nCols}, got ${w.dtype}${formatShape(w.shape)}`,
    );
  }
  if (x.indptr.length !== x.nRows + 1) {
    throw new ArgumentError(`csrMatmul: indptr has ${x.indptr.length} entries for ${x.nRows} rows`);
  }
  const l = w.shape[1]!;
  const wd = w.data as FloatArray;
  // The values in W's dtype: a float32 X with float64 weights (gradient checks) is converted once.
  const values =
    x.data.constructor === wd.constructor ? x.data : (allocate(w.dtype, x.data.length) as FloatArray);
  if (values !== x.data) values.set(x.data);
  const csr = { rows: x.nRows, cols: x.nCols, indptr: x.indptr, indices: x.indices, values };
  const y = allocate(w.dtype, x.nRows * l) as FloatArray;
  kernels().csrMatmul({ ...csr, b: wd, l, c: y });
  return record("csrMatmul", new Tensor(y, [x.nRows, l]), [w], (g) => {
    const gw = allocate(w.dtype, w.size) as FloatArray;
    kernels().csrTransposeMatmul({ ...csr, y: g.data as FloatArray, l, c: gw });
    return [new Tensor(gw, w.shape)];
  });
}
