// What the optimizers need from a parameter, stated structurally so that src/optim depends on no
// tensor class: a contiguous data array and, after a backward pass, a gradient of the same length.

export type FloatArray = Float32Array | Float64Array;

/** A trainable parameter as the optimizers see it (a Tensor satisfies this). */
export interface OptimParam {
  readonly data: FloatArray;
  readonly grad: { readonly data: FloatArray } | null;
}

/** Hyperparameters every optimizer has; the scheduler sets `lr`. */
export interface BaseOptions {
  lr: number;
}

/**
 * One optimization algorithm as data: `init` creates a parameter's state buffers (same dtype as
 * the parameter, as in torch), `update` applies one step in place. Both are pure functions of their
 * arguments, so the Optimizer that holds groups and state is the same class for every algorithm.
 */
export interface OptimizerRule<O extends BaseOptions> {
  /** The name stored in state dicts, to refuse loading Adam state into SGD. */
  readonly name: string;
  readonly defaults: Readonly<O>;
  /** Throws ArgumentError naming `where` and the option when an option is out of range. */
  validate(options: Readonly<O>, where: string): void;
  /** The state buffers of a parameter before its first step (torch: state initialized lazily). */
  init(param: FloatArray, options: Readonly<O>): Record<string, FloatArray>;
  /**
   * One step on one parameter. `step` counts this parameter's updates including this one (1 at the
   * first), `lr` is the effective learning rate (group lr times lrScale).
   */
  update(
    param: FloatArray,
    grad: FloatArray,
    state: Record<string, FloatArray>,
    step: number,
    lr: number,
    options: Readonly<O>,
  ): void;
}
