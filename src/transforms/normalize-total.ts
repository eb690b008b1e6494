// NormalizeTotal (upstream cellarium/ml/transforms/normalize_total.py):
//   y_ng = target_count * x_ng / (total_mrna_umis_n + eps),
// with total_mrna_umis_n from the batch when given, else the row sums of x_ng.

import type { Batch, Transform, TransformState } from "../data/batch.js";
import { refuseValueAt } from "../data/check-block.js";
import { inStoredForm, type Matrix, storedForm } from "../data/matrix.js";
import { DataValueError, SchemaMismatchError } from "../errors.js";
import { kernels } from "../tensor/kernels/index.js";
import { checkStateName, numberArg } from "./state.js";
import { checkEps, checkTargetCount, withValues } from "./values.js";

/**
 * The normalized block, in x_ng's format (zeros stay zeros, so CSR costs O(nnz)), its values in
 * `out` (x_ng's stored values, storedForm(x_ng).data, to work in place). The rounding follows upstream's float32 tensor ops:
 * fl(fl(target_count * x) / fl(total + eps)), so the results equal torch's bit for bit given the
 * same totals. Upstream sums the rows in float32 (x_ng.sum(dim=-1)); we add in float64 and round
 * once, so long rows do not drift.
 */
export function normalizeTotal(
  x_ng: Matrix,
  total_mrna_umis_n: Float32Array | undefined,
  targetCount: number,
  eps: number,
  out?: Float32Array,
  var_names_g?: readonly string[],
): Matrix {
  if (total_mrna_umis_n !== undefined) checkTotals(total_mrna_umis_n, x_ng.nRows);
  // A deferred dense block (matrix.ts) through its CSR form: the row sums and the scaled values
  // are the dense ones (adding a zero to a float64 sum changes nothing).
  return inStoredForm(x_ng, (stored) =>
    normalizeStored(stored, total_mrna_umis_n, targetCount, eps, out, var_names_g),
  );
}

function normalizeStored(
  x_ng: Matrix,
  total_mrna_umis_n: Float32Array | undefined,
  targetCount: number,
  eps: number,
  out: Float32Array = new Float32Array(x_ng.data.length),
  var_names_g?: readonly string[],
): Matrix {
  // torch casts the Python scalars to the tensor's float32 before the ops (the kernel does too).
  const rowPtr = x_ng.format === "csr" ? x_ng.indptr : null;
  const totals = total_mrna_umis_n ?? null;
  const stop = kernels().normalizeRows({
    rows: x_ng.nRows,
    rowPtr,
    rowLen: x_ng.nCols,
    x: x_ng.data,
    target: targetCount,
    eps,
    totals,
    y: out,
  });
  refuseValueAt("NormalizeTotal", stop, x_ng, var_names_g);
  return withValues(x_ng, out);
}

/** Given totals (an obs column) are one finite number >= 0 per row: a NaN would make the whole row NaN. */
function checkTotals(total_mrna_umis_n: Float32Array, nRows: number): void {
  if (total_mrna_umis_n.length !== nRows) {
    throw new SchemaMismatchError(
      `NormalizeTotal: total_mrna_umis_n has ${total_mrna_umis_n.length} values but x_ng has ${nRows} rows`,
    );
  }
  for (let row = 0; row < nRows; row++) {
    const value = total_mrna_umis_n[row]!;
    if (!(value >= 0 && value < Number.POSITIVE_INFINITY)) {
      throw new DataValueError(
        `NormalizeTotal: total_mrna_umis_n is ${value} at row ${row} of the batch; totals must be finite and >= 0`,
        { key: "total_mrna_umis_n", value, row },
      );
    }
  }
}

export interface NormalizeTotalOptions {
  /** Default 10_000, upstream's. */
  readonly target_count?: number;
  /** Default 1e-6, upstream's. */
  readonly eps?: number;
}

/**
 * Scales each cell to `target_count` total counts, y = target_count * x / (total + eps) (upstream's
 * NormalizeTotal; scanpy's normalize_total). The total is the batch's `total_mrna_umis_n` when
 * present, else the row sum. CSR stays CSR.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Log1p, NormalizeTotal, composeTransforms } from "cellarium-ts";
 *
 * const pipeline = composeTransforms([new NormalizeTotal({ target_count: 10, eps: 0 }), new Log1p()]);
 * const out = pipeline({ x_ng: { format: "dense", nRows: 1, nCols: 2, data: new Float32Array([1, 4]) }, var_names_g: ["g0", "g1"] });
 * assert.deepEqual(Array.from(out.x_ng.data), [Math.fround(Math.log1p(2)), Math.fround(Math.log1p(8))]);
 * ```
 */
export class NormalizeTotal implements Transform {
  readonly name = "NormalizeTotal";
  readonly target_count: number;
  readonly eps: number;

  constructor(options: NormalizeTotalOptions = {}) {
    this.target_count = options.target_count ?? 10_000;
    this.eps = options.eps ?? 1e-6;
    checkTargetCount(this.name, this.target_count);
    checkEps(this.name, this.eps);
  }

  /**
   * Rebuilds the transform from what `state()` returned (a checkpoint's entry).
   * @throws {@link CheckpointError} when the state is not a NormalizeTotal's.
   */
  static fromState(state: TransformState): NormalizeTotal {
    checkStateName(state, "NormalizeTotal");
    return new NormalizeTotal({
      target_count: numberArg(state, "target_count"),
      eps: numberArg(state, "eps"),
    });
  }

  forward(batch: Batch): Partial<Batch> {
    const { x_ng, total_mrna_umis_n, var_names_g } = batch;
    return {
      x_ng: normalizeTotal(x_ng, total_mrna_umis_n, this.target_count, this.eps, undefined, var_names_g),
    };
  }

  forwardInPlace(batch: Batch): Partial<Batch> {
    const { x_ng, total_mrna_umis_n, var_names_g } = batch;
    return {
      x_ng: normalizeTotal(
        x_ng,
        total_mrna_umis_n,
        this.target_count,
        this.eps,
        storedForm(x_ng).data,
        var_names_g,
      ),
    };
  }

  state(): TransformState {
    return { name: this.name, args: { target_count: this.target_count, eps: this.eps }, tensors: {} };
  }
}
