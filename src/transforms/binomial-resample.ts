// BinomialResample (upstream cellarium/ml/transforms/binomial_resample.py): in the cells Randomize
// picks (probability p_apply each), every count is thinned binomially with its own probability
// p_ng ~ Uniform(p_binom_min, p_binom_max):
//   y_ng = Binomial(n = x_ng, p = p_ng).
// Binomial(0, p) = 0, so zeros stay zero: a CSR block keeps its structure (a count resampled to 0
// stays stored, as a zero) and costs O(nnz) draws.

import type { Batch, TransformState } from "../data/batch.js";
import { refuseValueAt } from "../data/check-block.js";
import { type Matrix, storedForm } from "../data/matrix.js";
import type { Generator } from "../tensor/random.js";
import {
  type AugmentationOptions,
  augmentNonZeros,
  UniformAugmentation,
  uniformAugmentationArgs,
} from "./augmentation.js";

const BOUNDS = ["p_binom_min", "p_binom_max"] as const;

/**
 * Throws unless every stored value is a whole count >= 0: torch's Binomial validates total_count
 * (nonnegative_integer) for the whole batch, picked cells or not, so upstream refuses the batch too.
 */
function requireWholeCounts(x_ng: Matrix, var_names_g?: readonly string[]): void {
  const stored = storedForm(x_ng);
  const { data } = stored;
  let stop = 0;
  while (stop < data.length && data[stop]! >= 0 && Number.isInteger(data[stop]!)) stop++;
  refuseValueAt("BinomialResample", stop, stored, var_names_g, "whole counts (integers >= 0)");
}

/** BinomialResample of x_ng (see the file's comment), drawn from `generator`, values into `out` (in place). */
export function binomialResample(
  x_ng: Matrix,
  p_binom_min: number,
  p_binom_max: number,
  p_apply: number,
  generator: Generator,
  out?: Float32Array,
  var_names_g?: readonly string[],
): Matrix {
  requireWholeCounts(x_ng, var_names_g);
  const width = p_binom_max - p_binom_min;
  return augmentNonZeros(
    x_ng,
    p_apply,
    generator,
    // p_ng as upstream's float32 uniform_ draws it: 24 random bits.
    (count) => generator.binomial(count, p_binom_min + width * ((generator.nextUint32() >>> 8) / 16777216)),
    out,
  );
}

export interface BinomialResampleOptions extends AugmentationOptions {
  /** Lower bound of each count's binomial probability. */
  readonly p_binom_min: number;
  /** Upper bound of each count's binomial probability. */
  readonly p_binom_max: number;
}

/**
 * Count augmentation: in the cells Randomize picks (probability `p_apply`), thins every count binomially
 * with a probability drawn per entry from [p_binom_min, p_binom_max] (upstream's BinomialResample). Zeros
 * stay zero, CSR stays CSR.
 */
export class BinomialResample extends UniformAugmentation {
  readonly name = "BinomialResample";
  readonly p_binom_min: number;
  readonly p_binom_max: number;

  constructor(options: BinomialResampleOptions) {
    super("BinomialResample", BOUNDS, options, "probability");
    this.p_binom_min = options.p_binom_min;
    this.p_binom_max = options.p_binom_max;
  }

  /**
   * Rebuilds the transform from what `state()` returned (a checkpoint's entry).
   * @throws {@link CheckpointError} when the state is not a BinomialResample's.
   */
  static fromState(state: TransformState): BinomialResample {
    const args = uniformAugmentationArgs(state, "BinomialResample", BOUNDS);
    return new BinomialResample(args as unknown as BinomialResampleOptions);
  }

  protected augment(batch: Batch, generator: Generator, out?: Float32Array): Matrix {
    const { p_binom_min, p_binom_max, p_apply } = this;
    return binomialResample(batch.x_ng, p_binom_min, p_binom_max, p_apply, generator, out, batch.var_names_g);
  }
}
