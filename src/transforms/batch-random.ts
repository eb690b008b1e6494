// The random numbers of the augmentations (BinomialResample, Dropout, GaussianNoise, Randomize).
// Upstream draws them from torch's global generator, seeded by seed_everything, in whatever order
// the steps run. Here every (batch, step) pair has a Philox stream of its own, keyed by the seed and
// counted from the batch's position (stage, epoch, replica, batch index) and the step's place in
// the pipeline. So the draws for a batch depend on nothing else: not on read-ahead workers, not on
// what other replicas draw, not on whether the run was interrupted (a resumed run recomputes the
// streams of the batches it has left from their positions, with no state to restore but the seed),
// and two random steps of one pipeline never share numbers.

import type { BatchPosition, StepContext } from "../data/batch.js";
import { ArgumentError } from "../errors.js";
import { Generator } from "../tensor/random.js";

const TWO_POW_32 = 4294967296;

// Counter word 1 packs the step (12 bits), the stage (2 bits, never 0, so the word is never 0 and no
// stream meets a model's Generator(seed), whose counter grows from 0 in word 0) and the replica
// (18 bits). Word 0 counts the stream's own blocks (2^32 blocks = 2^34 words, more than a batch
// can use); words 2 and 3 are the batch index and the epoch.
const STAGE_CODE = { fit: 1, validate: 2, predict: 3 } as const;
const MAX_STEPS = 1 << 12;
const MAX_REPLICAS = 1 << 18;

/** The stream of pipeline step `step` for the batch at `position`. */
export function batchGenerator(position: BatchPosition, step: number): Generator {
  const { seed, stage, epoch, batch, replica } = position;
  const inRange = (value: number, limit: number) =>
    Number.isSafeInteger(value) && value >= 0 && value < limit;
  if (
    !inRange(seed, 2 ** 53) ||
    !inRange(step, MAX_STEPS) ||
    !inRange(replica, MAX_REPLICAS) ||
    !inRange(batch, TWO_POW_32) ||
    !inRange(epoch, TWO_POW_32)
  ) {
    throw new ArgumentError(
      `batchGenerator: seed ${seed}, step ${step}, replica ${replica}, batch ${batch} or epoch ${epoch} is out of range`,
    );
  }
  const word1 = (step | (STAGE_CODE[stage] << 12) | (replica << 14)) >>> 0;
  return Generator.fromState({
    key: [seed % TWO_POW_32, Math.floor(seed / TWO_POW_32)],
    counter: [0, word1, batch, epoch],
    used: 4,
  });
}

/**
 * The generator a random step draws from: its batch's stream inside the Trainer (`context`), else
 * (a pipeline called without a position, a transform called directly) the step's own sequential
 * generator.
 */
export function stepGenerator(context: StepContext | undefined, own: Generator): Generator {
  return context === undefined ? own : context.generator();
}
