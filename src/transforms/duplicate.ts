// Duplicate (upstream cellarium/ml/transforms/duplicate.py, for contrastive learning): x_ng's rows
// stacked twice, [x_ng; x_ng] (torch's x_ng.repeat((2, 1))), so that two augmentations after it see
// each cell twice. Like upstream, only x_ng doubles: the batch's other per-cell keys
// (obs_names_n, total_mrna_umis_n, y_n) keep their n rows, and a step that pairs them with x_ng's
// rows refuses the mismatch. enabled: false passes x_ng through (for inference with the training
// pipeline). The block keeps its format: CSR stays CSR.

import type { Batch, Transform, TransformState } from "../data/batch.js";
import { type CsrMatrix, type DenseMatrix, inStoredForm, type Matrix } from "../data/matrix.js";
import { booleanArg, checkStateName } from "./state.js";

function stackTwiceCsr(x: CsrMatrix): CsrMatrix {
  const { nRows, nCols, indptr, indices, data } = x;
  const first = indptr[0]!;
  const nnz = indptr[nRows]! - first;
  const rows = new Int32Array(2 * nRows + 1);
  for (let i = 0; i <= nRows; i++) {
    rows[i] = indptr[i]! - first;
    rows[nRows + i] = nnz + indptr[i]! - first;
  }
  const columns = new Int32Array(2 * nnz);
  const values = new Float32Array(2 * nnz);
  for (const at of [0, nnz]) {
    columns.set(indices.subarray(first, first + nnz), at);
    values.set(data.subarray(first, first + nnz), at);
  }
  return { format: "csr", nRows: 2 * nRows, nCols, indptr: rows, indices: columns, data: values };
}

function stackTwiceDense(x: DenseMatrix): DenseMatrix {
  const values = new Float32Array(2 * x.data.length);
  values.set(x.data, 0);
  values.set(x.data, x.data.length);
  return { format: "dense", nRows: 2 * x.nRows, nCols: x.nCols, data: values };
}

/** [x_ng; x_ng], in x_ng's format (a deferred dense block through its CSR form). */
export function duplicateRows(x_ng: Matrix): Matrix {
  return inStoredForm(x_ng, (x) => (x.format === "csr" ? stackTwiceCsr(x) : stackTwiceDense(x)));
}

export interface DuplicateOptions {
  /** Default true, upstream's; false passes x_ng through. */
  readonly enabled?: boolean;
}

/**
 * Stacks x_ng's rows twice, [x; x] (upstream's Duplicate, for contrastive learning), so that the
 * augmentations after it see each cell twice. `enabled: false` passes x_ng through.
 */
export class Duplicate implements Transform {
  readonly name = "Duplicate";
  readonly enabled: boolean;

  constructor(options: DuplicateOptions = {}) {
    this.enabled = options.enabled ?? true;
  }

  /**
   * Rebuilds the transform from what `state()` returned (a checkpoint's entry).
   * @throws {@link CheckpointError} when the state is not a Duplicate's.
   */
  static fromState(state: TransformState): Duplicate {
    checkStateName(state, "Duplicate");
    return new Duplicate({ enabled: booleanArg(state, "enabled") });
  }

  forward(batch: Batch): Partial<Batch> {
    return this.enabled ? { x_ng: duplicateRows(batch.x_ng) } : {};
  }

  state(): TransformState {
    return { name: this.name, args: { enabled: this.enabled }, tensors: {} };
  }
}
