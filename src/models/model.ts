// The contract every model meets (upstream's CellariumModel, PredictMixin and ValidateMixin).
// The trainer, checkpoints and the command line see models only through this interface, so a
// streaming model (sums, digests, SVDs in typed arrays) and a gradient model (parameters and an
// optimizer) are driven by the same loops.

import type { Batch, BatchValue } from "../data/batch.js";
import { ConfigError } from "../errors.js";
import type { DataFrameInput } from "../formats/h5ad/writer.js";
import type { JsonValue } from "../json.js";
import type { Tensor } from "../tensor/tensor.js";

/** What forward returns: the loss for gradient models, nothing (an empty record) for streaming ones. */
export interface ModelOutput {
  loss?: Tensor;
  /** validate: the model's own metrics of the batch (means over its cells), by validationMetrics' names. */
  metrics?: Readonly<Record<string, number>>;
}

/** A prediction: per-cell outputs by upstream's names (`x_ng`, `y_logits_nc`, `z_nk`, ...). */
export type PredictOutput = Record<string, BatchValue | Tensor>;

/** A model's predict arguments beyond the batch, by upstream's names. */
export type PredictOptions = Readonly<Record<string, JsonValue | undefined>>;

/** Where the training loop stands, for the hooks. */
export interface TrainerContext {
  readonly epoch: number;
  readonly globalStep: number;
  /** Replicas (processes or threads) training the model together, and this one's rank. */
  readonly numReplicas: number;
  readonly replicaRank: number;
  /**
   * Whether this model holds the state of every replica's cells now: in a single process always; in
   * a group of replicas at rank 0 after an epoch's merge (onTrainEpochEnd); never in a partial run
   * (--replica_rank), whose parts only `cellarium merge` combines.
   */
  readonly wholeRun: boolean;
  /** Writes a text output atomically; models do no file I/O of their own (they also run in browsers). */
  writeTextFile(path: string, text: string): Promise<void>;
  /** Writes a genes-only .h5ad (no cells, var = `genes`) atomically, e.g. HVGSeuratV3's results as var columns. */
  writeGenes(path: string, genes: DataFrameInput): Promise<void>;
}

/**
 * The contract every model meets (upstream's CellariumModel, with PredictMixin and ValidateMixin):
 * the Trainer, checkpoints and the command line see models only through it, so streaming models
 * (OnePassMeanVarStd, TDigest, IncrementalPCA) and gradient models (ProbabilisticPCA,
 * LogisticRegression, scVI, Geneformer) run in the same loops. Implement it to bring a model of
 * your own to the Trainer.
 */
export interface CellariumModel {
  /** Upstream's class name (`OnePassMeanVarStd`), the name a config's class_path ends in. */
  readonly className: string;
  /** The genes the model was built for; every call checks the batch's var_names_g against them. */
  readonly var_names_g: readonly string[];
  /** Constructor arguments by upstream's names, enough to rebuild the model from a checkpoint. */
  initArgs(): Record<string, JsonValue>;
  /** Re-initialises what the constructor created (upstream's reset_parameters). */
  resetParameters(): void;
  /**
   * One training step's work on a batch: the loss for gradient models; streaming models update their
   * statistics and return {}.
   */
  forward(batch: Batch): ModelOutput;
  /** Trainable parameters; empty for streaming models. */
  parameters(): Tensor[];
  /** Parameters and buffers by name: what a checkpoint stores. */
  stateDict(): Record<string, Tensor>;
  /**
   * Restores what `stateDict()` returned (a checkpoint's model tensors); a missing or mistyped entry is a
   * CheckpointError.
   */
  loadStateDict(state: Record<string, Tensor>): void;
  /** Training (dropout and masking on) or evaluation mode. */
  train(mode?: boolean): void;
  /** The state of the model's own random generators, saved so a resumed run draws the same numbers. */
  randomState?(): JsonValue;
  /** Restores what `randomState()` returned. */
  setRandomState?(state: JsonValue): void;
  /** Lightning's on_train_start: once before the first batch of a fit. */
  onTrainStart?(context: TrainerContext): void;
  /** Lightning's on_train_epoch_start. */
  onTrainEpochStart?(context: TrainerContext): void;
  /** Lightning's on_train_batch_end: after each optimizer step (or batch, for streaming models). */
  onTrainBatchEnd?(context: TrainerContext): void;
  /** Lightning's on_train_epoch_end: after the epoch's last batch and, with replicas, after their merge. */
  onTrainEpochEnd?(context: TrainerContext): void;
  /** Runs once after the last training step (e.g. OnePassMeanVarStd writes its CSV). */
  onTrainEnd?(context: TrainerContext): Promise<void> | void;
  /**
   * Lightning's `trainer.should_stop` set by the model: true once the model needs no further epoch
   * although max_epochs allows more (HVGSeuratV3 when its first pass already gives the clipped
   * sums of the second). Checked after each epoch's end, merge and shared state, and when a fit
   * starts or resumes.
   */
  fitComplete?(): boolean;
  /** Streaming models: fold another replica's statistics into this one, exactly. */
  merge?(other: CellariumModel): void;
  /**
   * Streaming models whose later epochs build on what the earlier ones found over the whole run
   * (HVGSeuratV3's second pass clips at values fitted on the merged first pass): the part of the
   * state every replica must hold alike. After each epoch's merge and hooks, and when a run
   * starts or resumes, the trainer gives rank 0's to the other replicas; a partial run may start
   * from a merged checkpoint at an epoch boundary, every part taking only this part of its state.
   */
  sharedState?(): Record<string, Tensor>;
  /** Takes the state `sharedState()` returned on rank 0. */
  loadSharedState?(state: Record<string, Tensor>): void;
  /**
   * A named attribute, as `!CheckpointLoader` (attr `model.mean_g`) and `cellarium inspect --attr`
   * evaluate it; an unknown name is a ConfigError listing attributeNames().
   */
  attribute?(name: string): ModelAttribute;
  /** The names `attribute()` accepts. */
  attributeNames?(): readonly string[];
  /**
   * Tensors whose value histograms the trainer logs at its log steps (upstream sends them to
   * TensorBoard's add_histogram, e.g. LogisticRegression's W_gc when log_metrics is set).
   */
  histograms?(): Record<string, Tensor>;
  /**
   * PredictMixin. `options` are the model's own predict arguments by upstream's names (upstream
   * passes them in the batch), e.g. Geneformer's output_attentions or feature_deletion.
   */
  predict?(batch: Batch, options?: PredictOptions): PredictOutput;
  /** ValidateMixin: the validation loss of a batch, and the model's own metrics. */
  validate?(batch: Batch): ModelOutput;
  /** The names of validate's metrics: metrics.csv columns after val_loss, averaged over the cells. */
  readonly validationMetrics?: readonly string[];
}

/** A model's named attribute: a per-gene or other tensor, a list of names, or a number. */
export type ModelAttribute = Tensor | readonly string[] | number;

/** Looks up `name` in a table of attribute getters, or throws a ConfigError listing them. */
export function lookupAttribute(
  className: string,
  table: Readonly<Record<string, () => ModelAttribute>>,
  name: string,
): ModelAttribute {
  const getter = Object.hasOwn(table, name) ? table[name] : undefined;
  if (!getter) {
    throw new ConfigError(
      `${className} has no attribute "${name}"; available: ${Object.keys(table).join(", ")}`,
    );
  }
  return getter();
}
