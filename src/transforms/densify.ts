// Densify (upstream cellarium/ml/transforms/densify.py): CSR x_ng -> dense; dense passes through.

import type { Batch, Transform, TransformState } from "../data/batch.js";
import type { DenseMatrix, Matrix } from "../data/matrix.js";
import { checkStateName } from "./state.js";

/** x_ng as a row-major dense block; a dense input is returned as is (it is never mutated). */
export function densify(x_ng: Matrix): DenseMatrix {
  if (x_ng.format === "dense") return x_ng;
  const { nRows, nCols, indptr, indices, data } = x_ng;
  const out = new Float32Array(nRows * nCols);
  for (let i = 0; i < nRows; i++) {
    const offset = i * nCols;
    const end = indptr[i + 1]!;
    // += so that duplicate column entries add up, as scipy's and torch's to_dense do.
    for (let p = indptr[i]!; p < end; p++) out[offset + indices[p]!] += data[p]!;
  }
  return { format: "dense", nRows, nCols, data: out };
}

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
