// Densify (upstream cellarium/ml/transforms/densify.py): CSR x_ng -> dense; dense passes through.
// The dense block is deferred (matrix.ts, deferredDense): its values are computed when first read,
// and the transforms and models after it work on its CSR form, so a config that densifies at the
// head of its pipeline (upstream's examples do) runs as fast as one that keeps X sparse.

import type { Batch, Transform, TransformState } from "../data/batch.js";
import { deferredDense } from "../data/matrix.js";
import { checkStateName } from "./state.js";

/**
 * Turns a CSR x_ng into a dense block (upstream's Densify). The values are computed when first read, so
 * steps after it that handle CSR keep its speed.
 */
export class Densify implements Transform {
  readonly name = "Densify";

  /**
   * Rebuilds the transform from what `state()` returned (a checkpoint's entry).
   * @throws {@link CheckpointError} when the state is not a Densify's.
   */
  static fromState(state: TransformState): Densify {
    checkStateName(state, "Densify");
    return new Densify();
  }

  forward(batch: Batch): Partial<Batch> {
    return { x_ng: deferredDense(batch.x_ng) };
  }

  state(): TransformState {
    return { name: this.name, args: {}, tensors: {} };
  }
}
