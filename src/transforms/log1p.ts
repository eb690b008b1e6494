// Log1p (upstream cellarium/ml/transforms/log1p.py): y_ng = log(1 + x_ng).

import type { Batch, Transform, TransformState } from "../data/batch.js";
import type { Matrix } from "../data/matrix.js";
import { checkStateName } from "./state.js";
import { withValues } from "./values.js";

/** log1p of every value, in x_ng's format: log1p(0) = 0, so CSR keeps its structure (O(nnz)). */
export function log1p(x_ng: Matrix): Matrix {
  const src = x_ng.data;
  const out = new Float32Array(src.length);
  for (let p = 0; p < src.length; p++) out[p] = Math.log1p(src[p]!);
  return withValues(x_ng, out);
}

export class Log1p implements Transform {
  readonly name = "Log1p";

  static fromState(state: TransformState): Log1p {
    checkStateName(state, "Log1p");
    return new Log1p();
  }

  forward(batch: Batch): Partial<Batch> {
    return { x_ng: log1p(batch.x_ng) };
  }

  state(): TransformState {
    return { name: this.name, args: {}, tensors: {} };
  }
}
