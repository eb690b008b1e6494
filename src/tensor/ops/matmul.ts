// Matrix products through the kernel seam (kernels().gemmBatched: OpenBLAS when built, else
// TypeScript).
// matmul follows torch.matmul: 1-D operands become a row / column vector and that axis is dropped
// from the result; leading (batch) axes broadcast.

import { ArgumentError } from "../../errors.js";
import { kernels } from "../kernels/index.js";
import { broadcastShapes, broadcastStrides, stridedLoop } from "../strided.js";
import { allocate, type FloatArray, formatShape, record, sizeOf, Tensor } from "../tensor.js";
import { reshape } from "./shape.js";

/**
 * For every index of batchShape: C[i] = op(A[i]) op(B[i]) + beta C[i], where op(A) is m x inner,
 * op(B) is inner x n, and each operand's matrices are found at batch-index * its batch strides
 * (element strides; 0 shares one matrix across that axis, and beta = 1 then sums into it).
 * The batch axes are merged where the strides allow, so each run of equally spaced products is
 * one strided gemmBatched call (one call in all for a plain or a broadcast batch).
 */
export function batchedGemm(
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  inner: number,
  batchShape: readonly number[],
  a: FloatArray,
  aStrides: readonly number[],
  b: FloatArray,
  bStrides: readonly number[],
  c: FloatArray,
  cStrides: readonly number[],
  beta: number,
): void {
  const gemmBatched = kernels().gemmBatched;
  const lda = transA ? m : inner;
  const ldb = transB ? inner : n;
  stridedLoop(batchShape, [aStrides, bStrides, cStrides], (count, off, step) => {
    gemmBatched({
      transA,
      transB,
      m,
      n,
      k: inner,
      alpha: 1,
      a: a.subarray(off[0]!),
      lda,
      strideA: step[0]!,
      b: b.subarray(off[1]!),
      ldb,
      strideB: step[1]!,
      beta,
      c: c.subarray(off[2]!),
      ldc: n,
      strideC: step[2]!,
      batch: count,
    });
  });
}

function batchStrides(batch: readonly number[], outBatch: readonly number[], matrixSize: number): number[] {
  return broadcastStrides(batch, outBatch).map((s) => s * matrixSize);
}

// Both operands have at least two axes.
function matmulBatched(a: Tensor, b: Tensor): Tensor {
  const m = a.shape[a.ndim - 2]!;
  const k = a.shape[a.ndim - 1]!;
  const n = b.shape[b.ndim - 1]!;
  if (b.shape[b.ndim - 2] !== k) {
    throw new ArgumentError(
      `matmul: shapes ${formatShape(a.shape)} and ${formatShape(b.shape)} do not chain`,
    );
  }
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  const batch = broadcastShapes([aBatch, bBatch], "matmul");
  const aS = batchStrides(aBatch, batch, m * k);
  const bS = batchStrides(bBatch, batch, k * n);
  const cS = batchStrides(batch, batch, m * n);
  const out = allocate(a.dtype, sizeOf(batch) * m * n) as FloatArray;
  const ad = a.data as FloatArray;
  const bd = b.data as FloatArray;
  batchedGemm(false, false, m, n, k, batch, ad, aS, bd, bS, out, cS, 0);
  return record("matmul", new Tensor(out, [...batch, m, n]), [a, b], (g) => {
    const gd = g.data as FloatArray;
    let gradA: Tensor | null = null;
    let gradB: Tensor | null = null;
    if (a.requiresGrad) {
      // dA = dC B^T, summed over the batch axes A was broadcast along (beta = 1).
      const ga = allocate(a.dtype, a.size) as FloatArray;
      batchedGemm(false, true, m, k, n, batch, gd, cS, bd, bS, ga, aS, 1);
      gradA = new Tensor(ga, a.shape);
    }
    if (b.requiresGrad) {
      // dB = A^T dC, likewise summed.
      const gb = allocate(b.dtype, b.size) as FloatArray;
      batchedGemm(true, false, k, n, m, batch, ad, aS, gd, cS, gb, bS, 1);
      gradB = new Tensor(gb, b.shape);
    }
    return [gradA, gradB];
  });
}

/** The matrix product of a and b with torch.matmul's rules for vectors and batch broadcasting. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  if (a.dtype === "int32" || a.dtype !== b.dtype || a.ndim === 0 || b.ndim === 0) {
    throw new ArgumentError(
      `matmul: needs float tensors of one dtype with at least one axis, got ${a.dtype}${formatShape(a.shape)} and ${b.dtype}${formatShape(b.shape)}`,
    );
  }
  const a2 = a.ndim === 1 ? reshape(a, [1, a.shape[0]!]) : a;
  const b2 = b.ndim === 1 ? reshape(b, [b.shape[0]!, 1]) : b;
  let out: Tensor;
  if (b2.ndim === 2 && a2.ndim > 2) {
    // A shared right matrix: fold a's batch axes into its rows, one gemm instead of a loop.
    const rows = reshape(a2, [-1, a2.shape[a2.ndim - 1]!]);
    const product = matmulBatched(rows, b2);
    out = reshape(product, [...a2.shape.slice(0, -1), b2.shape[1]!]);
  } else {
    out = matmulBatched(a2, b2);
  }
  if (a.ndim === 1) out = reshape(out, [...out.shape.slice(0, -2), out.shape[out.ndim - 1]!]);
  if (b.ndim === 1) out = reshape(out, out.shape.slice(0, -1));
  return out;
}
