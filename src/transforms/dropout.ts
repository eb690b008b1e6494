// Dropout (upstream cellarium/ml/transforms/dropout.py): in the cells Randomize picks (probability
// p_apply each), every count is zeroed with its own probability p_ng ~ Uniform(p_dropout_min,
// p_dropout_max):
//   y_ng = x_ng * (1 - Bernoulli(p_ng)).
// The p_ng are drawn independently and each is used by one Bernoulli draw only, so an entry is
// zeroed with probability E[p_ng] = (p_dropout_min + p_dropout_max) / 2, independently of the
// others: the same distribution from one uniform draw per entry instead of two. Zeros stay zero,
// so a CSR block keeps its structure (a dropped count stays stored, as a zero) and costs O(nnz).

import type { Batch, TransformState } from "../data/batch.js";
import type { Matrix } from "../data/matrix.js";
import type { Generator } from "../tensor/random.js";
import {
  type AugmentationOptions,
  augmentNonZeros,
  UniformAugmentation,
  uniformAugmentationArgs,
} from "./augmentation.js";

const TWO_POW_32 = 4294967296;
const BOUNDS = ["p_dropout_min", "p_dropout_max"] as const;

/** Dropout of x_ng's values (see the file's comment), drawn from `generator`, values into `out` (in place). */
export function dropout(
  x_ng: Matrix,
  p_dropout_min: number,
  p_dropout_max: number,
  p_apply: number,
  generator: Generator,
  out?: Float32Array,
): Matrix {
  // A 32-bit word below p * 2^32 has probability p (to 2^-32).
  const threshold = ((p_dropout_min + p_dropout_max) / 2) * TWO_POW_32;
  return augmentNonZeros(x_ng, p_apply, generator, (v) => (generator.nextUint32() < threshold ? 0 : v), out);
}

export interface DropoutOptions extends AugmentationOptions {
  /** Lower bound of each entry's dropout probability. */
  readonly p_dropout_min: number;
  /** Upper bound of each entry's dropout probability. */
  readonly p_dropout_max: number;
}

/**
 * Count augmentation (upstream's transforms.Dropout, exported as `DropoutTransform`): in the cells Randomize
 * picks (probability `p_apply`), zeroes each count with a probability drawn per entry from [p_dropout_min,
 * p_dropout_max].
 */
export class Dropout extends UniformAugmentation {
  readonly name = "Dropout";
  readonly p_dropout_min: number;
  readonly p_dropout_max: number;

  constructor(options: DropoutOptions) {
    super("Dropout", BOUNDS, options, "probability");
    this.p_dropout_min = options.p_dropout_min;
    this.p_dropout_max = options.p_dropout_max;
  }

  /**
   * Rebuilds the transform from what `state()` returned (a checkpoint's entry).
   * @throws {@link CheckpointError} when the state is not a Dropout's.
   */
  static fromState(state: TransformState): Dropout {
    return new Dropout(uniformAugmentationArgs(state, "Dropout", BOUNDS) as unknown as DropoutOptions);
  }

  protected augment(batch: Batch, generator: Generator, out?: Float32Array): Matrix {
    return dropout(batch.x_ng, this.p_dropout_min, this.p_dropout_max, this.p_apply, generator, out);
  }
}
