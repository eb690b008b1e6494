// A batch's x_ng as the left factor of a product with a model's weights. Sparse blocks stay sparse
// (csrMatmul, nnz x k work, differentiable in the weights); dense blocks are wrapped without a copy
// (and cast when the weights are float64, as in the float64 gradient checks).

import { type Matrix, storedForm } from "../data/matrix.js";
import { cast } from "../tensor/ops/creation.js";
import { matmul } from "../tensor/ops/matmul.js";
import { csrMatmul } from "../tensor/ops/sparse.js";
import { Tensor } from "../tensor/tensor.js";

/** x_ng W_gk: [n, k] in W's dtype, differentiable in W. */
export function matrixTimes(x: Matrix, W_gk: Tensor): Tensor {
  // A deferred dense block (matrix.ts) through its CSR form.
  const x_ng = storedForm(x);
  if (x_ng.format === "csr") return csrMatmul(x_ng, W_gk);
  return matmul(cast(new Tensor(x_ng.data, [x_ng.nRows, x_ng.nCols]), W_gk.dtype), W_gk);
}

/** Column sums and the sum of all squares of x_ng, in float64, from its stored values only. */
export function columnMoments(x: Matrix): { sum_g: Float64Array; sumSquares: number } {
  const x_ng = storedForm(x);
  const sum_g = new Float64Array(x_ng.nCols);
  let sumSquares = 0;
  const data = x_ng.data;
  if (x_ng.format === "csr") {
    const indices = x_ng.indices;
    for (let p = x_ng.indptr[0]!, end = x_ng.indptr[x_ng.nRows]!; p < end; p++) {
      const v = data[p]!;
      sum_g[indices[p]!]! += v;
      sumSquares += v * v;
    }
  } else {
    const g = x_ng.nCols;
    for (let i = 0; i < x_ng.nRows; i++) {
      const row = i * g;
      for (let j = 0; j < g; j++) {
        const v = data[row + j]!;
        sum_g[j]! += v;
        sumSquares += v * v;
      }
    }
  }
  return { sum_g, sumSquares };
}
