// CenterPerCell (upstream cellarium/ml/transforms/center_per_cell.py): each cell minus its mean
// over the genes,
//   y_ng = x_ng - mean_g(x_ng).
// A zero becomes -mean, so the result is dense: a CSR block is read as CSR (its sums need only the
// stored values) and written straight into a dense block, the only block this transform allocates.

import type { Batch, Transform, TransformState } from "../data/batch.js";
import { type DenseMatrix, type Matrix, storedForm } from "../data/matrix.js";
import { checkStateName } from "./state.js";
import { rowStart } from "./values.js";

/**
 * x_ng centered per cell, dense. Each row's mean is summed in float64 and rounded once to float32
 * (upstream sums in float32), then fl(x - mean) as torch's float32 subtraction.
 */
export function centerPerCell(x: Matrix): DenseMatrix {
  // A deferred dense block (matrix.ts) through its CSR form: the zeros add nothing to the sums.
  const x_ng = storedForm(x);
  const { nRows, nCols, data } = x_ng;
  const out = new Float32Array(nRows * nCols);
  for (let i = 0; i < nRows; i++) {
    const start = rowStart(x_ng, i);
    const end = rowStart(x_ng, i + 1);
    let sum = 0;
    for (let p = start; p < end; p++) sum += data[p]!;
    const mean = Math.fround(sum / nCols);
    const offset = i * nCols;
    if (x_ng.format === "dense") {
      for (let j = 0; j < nCols; j++) out[offset + j] = data[offset + j]! - mean;
    } else {
      out.fill(-mean, offset, offset + nCols);
      for (let p = start; p < end; p++) out[offset + x_ng.indices[p]!] = data[p]! - mean;
    }
  }
  return { format: "dense", nRows, nCols, data: out };
}

/** Subtracts each cell's mean over the genes (upstream's CenterPerCell). The result is dense. */
export class CenterPerCell implements Transform {
  readonly name = "CenterPerCell";

  /**
   * Rebuilds the transform from what `state()` returned (a checkpoint's entry).
   * @throws {@link CheckpointError} when the state is not a CenterPerCell's.
   */
  static fromState(state: TransformState): CenterPerCell {
    checkStateName(state, "CenterPerCell");
    return new CenterPerCell();
  }

  forward(batch: Batch): Partial<Batch> {
    return { x_ng: centerPerCell(batch.x_ng) };
  }

  state(): TransformState {
    return { name: this.name, args: {}, tensors: {} };
  }
}
