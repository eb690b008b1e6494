// The contract every model meets (upstream's CellariumModel, PredictMixin and ValidateMixin).
// The trainer, checkpoints and the command line see models only through this interface, so a
// streaming model (sums, digests, SVDs in typed arrays) and a gradient model (parameters and an
// optimizer) are driven by the same loops.

import type { Batch, BatchValue, JsonValue } from "../data/batch.js";
import type { Tensor } from "../tensor/tensor.js";

/** What forward returns: the loss for gradient models, nothing (an empty record) for streaming ones. */
export interface ModelOutput {
  loss?: Tensor;
}

/** A prediction: per-cell outputs by upstream's names (`x_ng`, `y_logits_nc`, `z_nk`, ...). */
export type PredictOutput = Record<string, BatchValue | Tensor>;

/** Where the training loop stands, for the hooks. */
export interface TrainerContext {
  readonly epoch: number;
  readonly globalStep: number;
  /** Replicas (processes or threads) training the model together, and this one's rank. */
  readonly numReplicas: number;
  readonly replicaRank: number;
}

export interface CellariumModel {
  /** Upstream's class name (`OnePassMeanVarStd`), the name a config's class_path ends in. */
  readonly className: string;
  /** The genes the model was built for; every call checks the batch's var_names_g against them. */
  readonly var_names_g: readonly string[];
  /** Constructor arguments by upstream's names, enough to rebuild the model from a checkpoint. */
  initArgs(): Record<string, JsonValue>;
  /** Re-initialises what the constructor created (upstream's reset_parameters). */
  resetParameters(): void;
  forward(batch: Batch): ModelOutput;
  /** Trainable parameters; empty for streaming models. */
  parameters(): Tensor[];
  /** Parameters and buffers by name: what a checkpoint stores. */
  stateDict(): Record<string, Tensor>;
  loadStateDict(state: Record<string, Tensor>): void;
  /** Training (dropout and masking on) or evaluation mode. */
  train(mode?: boolean): void;
  /** The state of the model's own random generators, saved so a resumed run draws the same numbers. */
  randomState?(): JsonValue;
  setRandomState?(state: JsonValue): void;
  onTrainStart?(context: TrainerContext): void;
  onTrainBatchEnd?(context: TrainerContext): void;
  onTrainEpochEnd?(context: TrainerContext): void;
  /** Runs once after the last training step (e.g. OnePassMeanVarStd writes its CSV). */
  onTrainEnd?(context: TrainerContext): Promise<void> | void;
  /** Streaming models: fold another replica's statistics into this one, exactly. */
  merge?(other: CellariumModel): void;
  /** PredictMixin. */
  predict?(batch: Batch): PredictOutput;
  /** ValidateMixin: the validation loss of a batch. */
  validate?(batch: Batch): ModelOutput;
}

/** A model's named attribute as a checkpoint loader or `cellarium inspect --attr` evaluates it. */
export type ModelAttribute = Tensor | readonly string[] | number;
