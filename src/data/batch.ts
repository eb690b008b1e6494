// A batch is a flat dictionary keyed by the user's batch_keys (SPEC.md section 3), as in
// cellarium-ml, where every pipeline step returns a dictionary merged into the batch. Names with
// axis suffixes (x_ng, var_names_g, total_mrna_umis_n) are upstream's and part of users' configs.
//
// Contract: the arrays of a batch are never mutated in place. A step allocates what it changes and
// may share what it keeps (a values-only transform of a CSR block shares indptr and indices), so
// one batch can feed several pipelines. The one exception is inside a pipeline: a step may
// overwrite the values an earlier step of the same pipeline call allocated (Transform.forwardInPlace).

import type { JsonValue } from "../json.js";
import type { Generator } from "../tensor/random.js";
import type { Matrix } from "./matrix.js";

/** What a batch key can hold: a count block, per-cell or per-gene numbers, names, or a scalar. */
export type BatchValue = Matrix | Float32Array | Float64Array | Int32Array | Uint8Array | string[] | number;

/**
 * A mini-batch as the pipeline sees it: a flat record keyed by the config's batch_keys, with
 * upstream's names (`x_ng` the counts of n cells by g genes, `var_names_g` their genes, `y_n`
 * labels, ...). Steps never mutate a batch's arrays; they return the keys they change.
 */
export interface Batch {
  /** Counts (or their transform) of n cells over g genes; CSR until a step needs it dense. */
  x_ng: Matrix;
  /** The gene names of x_ng's columns, in column order. */
  var_names_g: string[];
  /** Total UMI counts per cell; NormalizeTotal uses it instead of the row sums when present. */
  total_mrna_umis_n?: Float32Array;
  obs_names_n?: string[];
  /** A per-cell target: category codes (categories_to_codes) or a numeric label. */
  y_n?: Int32Array | Float32Array;
  [key: string]: BatchValue | undefined;
}

/**
 * What a checkpoint stores for one transform: upstream's constructor arguments by their upstream
 * names (a checkpoint's hyper-parameters, e.g. `target_count`, `var_names_g`) and its buffers
 * (upstream's state_dict entries, e.g. `mean_g`).
 */
export interface TransformState {
  readonly name: string;
  readonly args: { readonly [arg: string]: JsonValue };
  readonly tensors: { readonly [buffer: string]: Float32Array };
}

/**
 * Where a batch is in a run: the Trainer gives it to the pipeline, whose random steps (the
 * augmentations) draw from a stream of their own keyed by it (src/transforms/batch-random.ts).
 */
export interface BatchPosition {
  /** seed_everything. */
  readonly seed: number;
  readonly stage: "fit" | "validate" | "predict";
  readonly epoch: number;
  /** The batch's index in this replica's sequence of the epoch (or of the validate / predict run). */
  readonly batch: number;
  /** The replica (data parallelism) that reads the batch. */
  readonly replica: number;
}

/** What a pipeline gives each step besides the batch. */
export interface StepContext {
  /** This step's random stream for this batch: the same numbers for the same seed and position. */
  generator(): Generator;
}

/** One pipeline step: reads the batch, returns the keys it changes. */
export type BatchStep = (batch: Batch) => Partial<Batch>;

/**
 * One step of a model's pipeline (upstream's transforms): reads a batch, returns the keys it
 * changes, which the pipeline merges into the batch. A transform can be saved in a checkpoint
 * (`state()`) and rebuilt from it (each class's static `fromState`).
 */
export interface Transform {
  /** Upstream's class name (`NormalizeTotal`, `ZScore`, ...), the name configs refer to. */
  readonly name: string;
  /** `context` is given inside a pipeline that knows the batch's position (the Trainer's). */
  forward(batch: Batch, context?: StepContext): Partial<Batch>;
  /**
   * forward's result, computed by overwriting batch.x_ng.data. Pipelines call it only for an x_ng
   * an earlier step of the same call allocated (nobody else holds it), which saves allocating and
   * first-touching a block of values per step and batch. Optional: values-only transforms have it.
   */
  forwardInPlace?(batch: Batch, context?: StepContext): Partial<Batch>;
  /** What a checkpoint stores for this transform: its upstream init arguments and buffers. */
  state(): TransformState;
}
