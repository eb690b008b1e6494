// The hooks of Trainer.fit, after Lightning's Callback: each concern of a fit that is not the loop
// itself (checkpoints, metrics.csv, histograms, the progress line, a partial run's state) is a
// FitCallback, and the loop calls the hooks of its callbacks in their order at fixed points:
//
//   setup                 the run directory exists, before a resume restores anything
//   onTrainStart          after the model's onTrainStart and the replicas' first share
//   onTrainBatchEnd       after each optimizer step (every batch of a streaming model)
//   onValidationEnd       after each validation pass during the fit
//   onTrainStepEnd        after the step's validation, if any, before max_steps may end the fit
//   onTrainEpochEnd       after the epoch's merge and the model's onTrainEpochEnd
//   onTrainEnd            after the last merge, when the fit saw cells; before the model's onTrainEnd
//
// A step's checkpoint is saved at onTrainStepEnd: Lightning validates before it saves the step's
// checkpoint, and a validation may draw from the model's random state that the checkpoint holds.

import type { JsonValue } from "../../json.js";
import type { CellariumModule, Optimization } from "../cellarium-module.js";
import type { ParallelInfo, TrainerPosition } from "../checkpoint.js";
import type { ReplicaGroup } from "../replica-group.js";

/** A fit as its callbacks see it: what it trains, how it is split, and where it stands. */
export interface FitState {
  readonly module: CellariumModule;
  /** null for a streaming model (no optimizer). */
  readonly optimization: Optimization | null;
  readonly group: ReplicaGroup | undefined;
  readonly parallel: ParallelInfo | undefined;
  /** Rank 0 of a thread group (every process of a partial run): it writes the run's files. */
  readonly leader: boolean;
  /** The resolved config, stored in checkpoints. */
  readonly config: JsonValue | undefined;
  /** The random transforms' seed (a resumed fit's comes from its checkpoint). */
  readonly seed: number;
  readonly position: TrainerPosition;
  /** Whether this replica's model has seen no cells since it was built or reset. */
  readonly empty: boolean;
  /** Cells this run has trained on. */
  readonly cells: number;
}

/** After an optimizer step: the step's place and the mean loss since the last logged step. */
export interface TrainBatchEnd {
  readonly epoch: number;
  /** Batches of the epoch done. */
  readonly batch: number;
  /** Batches in the epoch (limit_train_batches). */
  readonly total: number;
  /** Seconds since the fit started. */
  readonly seconds: number;
  readonly loss: number | undefined;
  /** Batches this run has read (not those before a resume). */
  readonly batchesDone: number;
  /** Whether this step is logged (every log_every_n_steps steps). */
  readonly logged: boolean;
}

export interface ValidationEnd {
  readonly epoch: number;
  readonly seconds: number;
  /** Mean loss over the validation cells. */
  readonly loss: number;
  readonly cells: number;
  /** The model's own validation metrics, averaged over the cells. */
  readonly metrics: Readonly<Record<string, number>>;
}

export interface TrainEpochEnd {
  readonly epoch: number;
  /** Batches of the epoch done. */
  readonly batch: number;
  readonly total: number;
  readonly seconds: number;
  /** false when max_steps ended the fit inside the epoch. */
  readonly complete: boolean;
}

export interface FitCallback {
  setup?(fit: FitState): Promise<void> | void;
  onTrainStart?(fit: FitState): Promise<void> | void;
  onTrainBatchEnd?(fit: FitState, step: TrainBatchEnd): Promise<void> | void;
  onValidationEnd?(fit: FitState, validation: ValidationEnd): Promise<void> | void;
  onTrainStepEnd?(fit: FitState, step: TrainBatchEnd): Promise<void> | void;
  onTrainEpochEnd?(fit: FitState, epoch: TrainEpochEnd): Promise<void> | void;
  onTrainEnd?(fit: FitState): Promise<void> | void;
}

/**
 * Calls `hook` of each callback in order, awaiting those that return a promise (a synchronous hook
 * adds no turn of the event loop to a step).
 */
export async function callHook<H extends keyof FitCallback>(
  callbacks: readonly FitCallback[],
  hook: H,
  fit: FitState,
  ...event: Parameters<NonNullable<FitCallback[H]>> extends [FitState, infer E] ? [E] : []
): Promise<void> {
  for (const callback of callbacks) {
    const method = callback[hook] as ((this: FitCallback, ...args: unknown[]) => unknown) | undefined;
    const result = method?.call(callback, fit, ...event);
    if (result instanceof Promise) await result;
  }
}
