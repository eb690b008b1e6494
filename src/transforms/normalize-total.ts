// NormalizeTotal (upstream cellarium/ml/transforms/normalize_total.py):
//   y_ng = target_count * x_ng / (total_mrna_umis_n + eps),
// with total_mrna_umis_n from the batch when given, else the row sums of x_ng.

import type { Batch, Transform, TransformState } from "../data/batch.js";
import type { Matrix } from "../data/matrix.js";
import { ArgumentError, SchemaMismatchError } from "../errors.js";
import { checkStateName, numberArg } from "./state.js";
import { checkEps, rowStart, withValues } from "./values.js";

/**
 * Row sums as float32. Upstream sums in float32 (x_ng.sum(dim=-1)); we add in float64 and round
 * once, so long rows do not drift.
 */
export function rowSums(x_ng: Matrix): Float32Array {
  const out = new Float32Array(x_ng.nRows);
  const { data } = x_ng;
  for (let i = 0; i < x_ng.nRows; i++) {
    const end = rowStart(x_ng, i + 1);
    let sum = 0;
    for (let p = rowStart(x_ng, i); p < end; p++) sum += data[p]!;
    out[i] = sum;
  }
  return out;
}

/**
 * The normalized block, in x_ng's format (zeros stay zeros, so CSR costs O(nnz)). The rounding
 * follows upstream's float32 tensor ops: fl(fl(target_count * x) / fl(total + eps)); a division
 * of two float32 values computed in float64 and rounded once is the correctly rounded float32
 * quotient, so the results equal torch's bit for bit given the same totals.
 */
export function normalizeTotal(
  x_ng: Matrix,
  total_mrna_umis_n: Float32Array | undefined,
  targetCount: number,
  eps: number,
): Matrix {
  const totals = total_mrna_umis_n ?? rowSums(x_ng);
  if (totals.length !== x_ng.nRows) {
    throw new SchemaMismatchError(
      `NormalizeTotal: total_mrna_umis_n has ${totals.length} values but x_ng has ${x_ng.nRows} rows`,
    );
  }
  const src = x_ng.data;
  const out = new Float32Array(src.length);
  // torch casts the Python scalars to the tensor's float32 before the ops.
  const target32 = Math.fround(targetCount);
  const eps32 = Math.fround(eps);
  for (let i = 0; i < x_ng.nRows; i++) {
    const denominator = Math.fround(totals[i]! + eps32);
    const end = rowStart(x_ng, i + 1);
    for (let p = rowStart(x_ng, i); p < end; p++) out[p] = Math.fround(target32 * src[p]!) / denominator;
  }
  return withValues(x_ng, out);
}

export interface NormalizeTotalOptions {
  /** Default 10_000, upstream's. */
  readonly targetCount?: number;
  /** Default 1e-6, upstream's. */
  readonly eps?: number;
}

export class NormalizeTotal implements Transform {
  readonly name = "NormalizeTotal";
  readonly targetCount: number;
  readonly eps: number;

  constructor(options: NormalizeTotalOptions = {}) {
    this.targetCount = options.targetCount ?? 10_000;
    this.eps = options.eps ?? 1e-6;
    // Upstream asserts target_count > 0 (assert_positive).
    if (!(Number.isFinite(this.targetCount) && this.targetCount > 0)) {
      throw new ArgumentError(
        `NormalizeTotal: targetCount must be a finite number > 0, got ${this.targetCount}`,
      );
    }
    checkEps(this.name, this.eps);
  }

  static fromState(state: TransformState): NormalizeTotal {
    checkStateName(state, "NormalizeTotal");
    return new NormalizeTotal({
      targetCount: numberArg(state, "target_count"),
      eps: numberArg(state, "eps"),
    });
  }

  forward(batch: Batch): Partial<Batch> {
    return { x_ng: normalizeTotal(batch.x_ng, batch.total_mrna_umis_n, this.targetCount, this.eps) };
  }

  state(): TransformState {
    return { name: this.name, args: { target_count: this.targetCount, eps: this.eps }, tensors: {} };
  }
}
