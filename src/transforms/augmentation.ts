// What the augmentations (BinomialResample, Dropout, GaussianNoise, and Randomize, which they all
// use) share. Each draws, per entry, a parameter uniform between two bounds (upstream's
// `torch.empty_like(x_ng).uniform_(min, max)`), augments, and then keeps the augmented row of each
// cell with probability p_apply (upstream's Randomize). Their random numbers come from the batch's
// own stream inside the Trainer (batch-random.ts), else from a generator of their own.

import type { Batch, StepContext, Transform, TransformState } from "../data/batch.js";
import { inStoredForm, type Matrix, storedForm } from "../data/matrix.js";
import { ArgumentError } from "../errors.js";
import { Generator } from "../tensor/random.js";
import { stepGenerator } from "./batch-random.js";
import { checkStateName, numberArg } from "./state.js";
import { rowStart, withValues } from "./values.js";

/** Throws unless argument `name` of `transform` is a probability (torch.bernoulli and Binomial refuse others). */
export function checkProbability(transform: string, name: string, value: number): void {
  if (!(value >= 0 && value <= 1)) {
    throw new ArgumentError(`${transform}: ${name} must be a probability in [0, 1], got ${value}`, {
      key: name,
      value,
    });
  }
}

/** Which of `nRows` cells get the augmentation: 1 with probability p_apply, one draw per cell. */
export function pickRows(generator: Generator, nRows: number, p_apply: number): Uint8Array {
  const picked = new Uint8Array(nRows);
  generator.fillBernoulli(picked, p_apply);
  return picked;
}

/**
 * x_ng with `augment` applied to each non-zero value of the cells pickRows picks, in x_ng's format
 * (the augmentations that keep zeros zero: Dropout, BinomialResample), so a CSR block keeps its
 * structure and costs O(nnz). The values go to `out` (x_ng's stored values, to work in place);
 * unpicked rows keep theirs. Draws: the row picks, then augment's, row by row over the non-zero
 * values in column order, which a CSR block and its dense form share, so both give one result.
 */
export function augmentNonZeros(
  x_ng: Matrix,
  p_apply: number,
  generator: Generator,
  augment: (value: number) => number,
  out?: Float32Array,
): Matrix {
  // A deferred dense block (matrix.ts) through its CSR form: the augmentation keeps zeros.
  return inStoredForm(x_ng, (stored) => {
    const src = stored.data;
    const values = out ?? src.slice();
    const picked = pickRows(generator, stored.nRows, p_apply);
    for (let i = 0; i < stored.nRows; i++) {
      if (picked[i] === 0) continue;
      const end = rowStart(stored, i + 1);
      for (let p = rowStart(stored, i); p < end; p++) if (src[p] !== 0) values[p] = augment(src[p]!);
    }
    return withValues(stored, values);
  });
}

/** The options every augmentation takes besides its bounds. */
export interface AugmentationOptions {
  /** Probability that a cell is augmented at all. */
  readonly p_apply: number;
  /** Draws when a call has no batch position (outside the Trainer); default a Generator(0) of its own. */
  readonly generator?: Generator;
}

/** Upstream's names of an augmentation's two bounds, e.g. ["p_dropout_min", "p_dropout_max"]. */
export type BoundNames = readonly [min: string, max: string];

/**
 * An augmentation whose entries draw a parameter uniform on [min, max]: the bounds (probabilities,
 * or standard deviations: finite and >= 0) and p_apply checked once, its state upstream's three
 * arguments. Subclasses hold the bounds under their upstream names and say how a batch is augmented.
 */
export abstract class UniformAugmentation implements Transform {
  abstract readonly name: string;
  /** Probability that a cell is augmented at all. */
  readonly p_apply: number;
  private readonly bounds: Readonly<Record<string, number>>;
  private readonly own: Generator;

  protected constructor(
    transform: string,
    names: BoundNames,
    options: AugmentationOptions,
    kind: "probability" | "deviation",
  ) {
    const [min, max] = names.map((name) => (options as unknown as Record<string, number>)[name]) as [
      number,
      number,
    ];
    for (const [i, value] of [min, max].entries()) {
      if (kind === "probability") checkProbability(transform, names[i]!, value);
      // torch.normal refuses a negative standard deviation.
      else if (!(value >= 0 && value < Number.POSITIVE_INFINITY)) {
        throw new ArgumentError(`${transform}: ${names[i]} must be finite and >= 0, got ${value}`, {
          key: names[i]!,
          value,
        });
      }
    }
    // torch's uniform_(min, max) refuses min > max.
    if (!(min <= max)) {
      throw new ArgumentError(
        `${transform}: ${names[0]} (${min}) must not exceed ${names[1]} (${max}); they bound a uniform draw`,
        { key: names[0], value: min },
      );
    }
    checkProbability(transform, "p_apply", options.p_apply);
    this.p_apply = options.p_apply;
    this.bounds = { [names[0]]: min, [names[1]]: max };
    this.own = options.generator ?? new Generator(0);
  }

  /** The batch's x_ng augmented with draws from `generator`; `out`: x_ng's stored values, to overwrite. */
  protected abstract augment(batch: Batch, generator: Generator, out?: Float32Array): Matrix;

  forward(batch: Batch, context?: StepContext): Partial<Batch> {
    return { x_ng: this.augment(batch, stepGenerator(context, this.own)) };
  }

  forwardInPlace(batch: Batch, context?: StepContext): Partial<Batch> {
    return { x_ng: this.augment(batch, stepGenerator(context, this.own), storedForm(batch.x_ng).data) };
  }

  state(): TransformState {
    return { name: this.name, args: { ...this.bounds, p_apply: this.p_apply }, tensors: {} };
  }
}

/** The constructor options a checkpoint's state gives back: the two bounds and p_apply. */
export function uniformAugmentationArgs(
  state: TransformState,
  transform: string,
  names: BoundNames,
): Record<string, number> & { p_apply: number } {
  checkStateName(state, transform);
  return {
    [names[0]]: numberArg(state, names[0]),
    [names[1]]: numberArg(state, names[1]),
    p_apply: numberArg(state, "p_apply"),
  };
}
