// Differentiable linear algebra on small square matrices (the k x k systems of probabilistic PCA),
// forward through the raw kernels of src/tensor/linalg, backward by the standard matrix identities.

import { ArgumentError } from "../../errors.js";
import { cholesky } from "../linalg/cholesky.js";
import { type Mat, matmul as matMul } from "../linalg/mat.js";
import { solve as matSolve } from "../linalg/solve.js";
import { allocate, type FloatArray, formatShape, record, Tensor } from "../tensor.js";

function asMat(t: Tensor): Mat {
  return { rows: t.shape[0]!, cols: t.shape[1]!, data: t.data as FloatArray };
}

function transposed(m: Mat): Mat {
  const out = allocate(m.data instanceof Float64Array ? "float64" : "float32", m.rows * m.cols) as FloatArray;
  for (let i = 0; i < m.rows; i++)
    for (let j = 0; j < m.cols; j++) out[j * m.rows + i] = m.data[i * m.cols + j]!;
  return { rows: m.cols, cols: m.rows, data: out };
}

function checkSquare(op: string, a: Tensor): number {
  if (a.dtype === "int32" || a.ndim !== 2 || a.shape[0] !== a.shape[1]) {
    throw new ArgumentError(`${op}: A must be a square float matrix, got ${a.dtype}${formatShape(a.shape)}`);
  }
  return a.shape[0]!;
}

/**
 * X = A^{-1} B for a square A [k, k] and B [k, m] (LU with partial pivoting, as torch.linalg.solve).
 * Backward: dB = A^{-T} dX, dA = -dB X^T.
 */
export function solve(a: Tensor, b: Tensor): Tensor {
  const k = checkSquare("solve", a);
  if (b.dtype !== a.dtype || b.ndim !== 2 || b.shape[0] !== k) {
    throw new ArgumentError(
      `solve: B must be a ${a.dtype} [${k}, m] matrix for A ${formatShape(a.shape)}, got ${b.dtype}${formatShape(b.shape)}`,
    );
  }
  const x = matSolve(asMat(a), asMat(b));
  const out = new Tensor(x.data, b.shape);
  return record("solve", out, [a, b], (g) => {
    const gb = matSolve(transposed(asMat(a)), asMat(g));
    const ga = a.requiresGrad ? matMul(gb, x, false, true) : null;
    if (ga) for (let i = 0; i < ga.data.length; i++) ga.data[i] = -ga.data[i]!;
    return [ga && new Tensor(ga.data, a.shape), b.requiresGrad ? new Tensor(gb.data, b.shape) : null];
  });
}

/**
 * log det A for a symmetric positive-definite A [k, k], from its Cholesky factor (2 sum log L_ii;
 * only the lower triangle is read). The gradient is the symmetric A^{-1}: the derivative along
 * symmetric perturbations, which is all a symmetric input built from other tensors (W W^T + s I)
 * can receive, as torch's gradient through cholesky.
 */
export function logdetSpd(a: Tensor): Tensor {
  const k = checkSquare("logdetSpd", a);
  const l = cholesky(asMat(a));
  let total = 0;
  for (let i = 0; i < k; i++) total += 2 * Math.log(l.data[i * k + i]!);
  const value = allocate(a.dtype, 1);
  value[0] = total;
  return record("logdetSpd", new Tensor(value, []), [a], (g) => {
    const identity = allocate(a.dtype, k * k) as FloatArray;
    for (let i = 0; i < k; i++) identity[i * k + i] = 1;
    const inverse = matSolve(asMat(a), { rows: k, cols: k, data: identity });
    const scale = g.data[0]!;
    for (let i = 0; i < inverse.data.length; i++) inverse.data[i]! *= scale;
    return [new Tensor(inverse.data, a.shape)];
  });
}
