// Randomize (upstream cellarium/ml/transforms/randomize.py): each cell independently takes its
// augmented row with probability p_apply, else keeps its own:
//   y_n = where(Bernoulli(p_apply)_n, x_aug_n, x_n).
// Upstream's Randomize is the helper BinomialResample, Dropout and GaussianNoise call with
// (x_aug, x_ng) (augmentation.ts, pickRows, here); it returns a tensor, so it cannot be a pipeline
// step there. Here it is also a step of its own, reading the batch keys x_aug (e.g.
// data.batch_keys.x_aug: {attr: layers, key: ...}) and x_ng, and writing x_ng.

import type { Batch, StepContext, Transform, TransformState } from "../data/batch.js";
import { densify, type Matrix } from "../data/matrix.js";
import { SchemaMismatchError } from "../errors.js";
import { Generator } from "../tensor/random.js";
import { type AugmentationOptions, checkProbability, pickRows } from "./augmentation.js";
import { stepGenerator } from "./batch-random.js";
import { checkStateName, numberArg } from "./state.js";

/** Row i of x_aug where picked[i], else of x_ng: CSR when both are CSR, else dense. */
function chooseRows(picked: Uint8Array, x_aug: Matrix, x_ng: Matrix): Matrix {
  const { nRows, nCols } = x_ng;
  if (x_aug.format === "csr" && x_ng.format === "csr") {
    const source = (i: number) => (picked[i] === 1 ? x_aug : x_ng);
    const indptr = new Int32Array(nRows + 1);
    for (let i = 0; i < nRows; i++) {
      const s = source(i);
      indptr[i + 1] = indptr[i]! + s.indptr[i + 1]! - s.indptr[i]!;
    }
    const indices = new Int32Array(indptr[nRows]!);
    const data = new Float32Array(indptr[nRows]!);
    for (let i = 0; i < nRows; i++) {
      const s = source(i);
      indices.set(s.indices.subarray(s.indptr[i]!, s.indptr[i + 1]!), indptr[i]!);
      data.set(s.data.subarray(s.indptr[i]!, s.indptr[i + 1]!), indptr[i]!);
    }
    return { format: "csr", nRows, nCols, indptr, indices, data };
  }
  const aug = densify(x_aug).data;
  const data = densify(x_ng).data.slice();
  for (let i = 0; i < nRows; i++) {
    if (picked[i] === 1) data.set(aug.subarray(i * nCols, (i + 1) * nCols), i * nCols);
  }
  return { format: "dense", nRows, nCols, data };
}

export type RandomizeOptions = AugmentationOptions;

/**
 * Takes each cell's augmented row `x_aug` with probability `p_apply`, else keeps x_ng (upstream's Randomize,
 * also usable as a step of its own reading the batch key x_aug).
 */
export class Randomize implements Transform {
  readonly name = "Randomize";
  readonly p_apply: number;
  private readonly own: Generator;

  constructor(options: RandomizeOptions) {
    checkProbability(this.name, "p_apply", options.p_apply);
    this.p_apply = options.p_apply;
    this.own = options.generator ?? new Generator(0);
  }

  /**
   * Rebuilds the transform from what `state()` returned (a checkpoint's entry).
   * @throws {@link CheckpointError} when the state is not a Randomize's.
   */
  static fromState(state: TransformState): Randomize {
    checkStateName(state, "Randomize");
    return new Randomize({ p_apply: numberArg(state, "p_apply") });
  }

  forward(batch: Batch, context?: StepContext): Partial<Batch> {
    const x_aug = batch["x_aug"] as Matrix | undefined;
    const { x_ng } = batch;
    if (x_aug?.format !== "csr" && x_aug?.format !== "dense") {
      throw new SchemaMismatchError(
        "Randomize: the batch has no matrix x_aug to pick rows from (e.g. data.batch_keys.x_aug: {attr: layers, key: <layer>})",
        { key: "x_aug" },
      );
    }
    if (x_aug.nRows !== x_ng.nRows || x_aug.nCols !== x_ng.nCols) {
      throw new SchemaMismatchError(
        `Randomize: x_aug is ${x_aug.nRows} x ${x_aug.nCols} but x_ng is ${x_ng.nRows} x ${x_ng.nCols}`,
        { key: "x_aug" },
      );
    }
    const picked = pickRows(stepGenerator(context, this.own), x_ng.nRows, this.p_apply);
    return { x_ng: chooseRows(picked, x_aug, x_ng) };
  }

  state(): TransformState {
    return { name: this.name, args: { p_apply: this.p_apply }, tensors: {} };
  }
}
