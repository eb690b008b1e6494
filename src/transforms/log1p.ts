// Log1p (upstream cellarium/ml/transforms/log1p.py): y_ng = log(1 + x_ng).

import type { Batch, Transform, TransformState } from "../data/batch.js";
import { refuseValueAt } from "../data/check-block.js";
import { inStoredForm, type Matrix, storedForm } from "../data/matrix.js";
import { kernels } from "../tensor/kernels/index.js";
import { checkStateName } from "./state.js";
import { withValues } from "./values.js";

/**
 * log1p of every value, in x_ng's format: log1p(0) = 0, so CSR keeps its structure (O(nnz)). The
 * values go to `out` (x_ng's stored values, storedForm(x_ng).data, to work in place). Log1p is for counts and their normalized
 * forms: a negative value is a DataValueError naming it (log1p is -inf or NaN from -1 down, and
 * has no meaning here above it), found in the kernel's own pass.
 */
export function log1p(x_ng: Matrix, out?: Float32Array, var_names_g?: readonly string[]): Matrix {
  // A deferred dense block (matrix.ts) through its CSR form: log1p(0) = 0.
  return inStoredForm(x_ng, (stored) => {
    const src = stored.data;
    const values = out ?? new Float32Array(src.length);
    refuseValueAt("Log1p", kernels().log1p({ n: src.length, x: src, y: values }), stored, var_names_g);
    return withValues(stored, values);
  });
}

/**
 * y = log(1 + x) on every value (upstream's Log1p), usually after NormalizeTotal. CSR stays CSR; a negative
 * value is a DataValueError naming the cell and gene.
 */
export class Log1p implements Transform {
  readonly name = "Log1p";

  /**
   * Rebuilds the transform from what `state()` returned (a checkpoint's entry).
   * @throws {@link CheckpointError} when the state is not a Log1p's.
   */
  static fromState(state: TransformState): Log1p {
    checkStateName(state, "Log1p");
    return new Log1p();
  }

  forward(batch: Batch): Partial<Batch> {
    return { x_ng: log1p(batch.x_ng, undefined, batch.var_names_g) };
  }

  forwardInPlace(batch: Batch): Partial<Batch> {
    return { x_ng: log1p(batch.x_ng, storedForm(batch.x_ng).data, batch.var_names_g) };
  }

  state(): TransformState {
    return { name: this.name, args: {}, tensors: {} };
  }
}
