// Densify (upstream cellarium/ml/transforms/densify.py): CSR x_ng -> dense; dense passes through.

import type { Batch, Transform, TransformState } from "../data/batch.js";
import { densify } from "../data/matrix.js";
import { checkStateName } from "./state.js";

export class Densify implements Transform {
  readonly name = "Densify";

  static fromState(state: TransformState): Densify {
    checkStateName(state, "Densify");
    return new Densify();
  }

  forward(batch: Batch): Partial<Batch> {
    return { x_ng: densify(batch.x_ng) };
  }

  state(): TransformState {
    return { name: this.name, args: {}, tensors: {} };
  }
}
