// The progress line of a fit (Lightning's progress bar): redrawn after every step, a line kept at
// every logged step, after each validation and at the end of each epoch.

import { Progress, type ProgressState } from "../progress.js";
import type { FitCallback, FitState, TrainBatchEnd, TrainEpochEnd, ValidationEnd } from "./callback.js";

export interface ProgressLoggerOptions {
  readonly enabled: boolean;
  /** The fit's limits, for "epoch 1/3" and the ETA. */
  readonly maxEpochs: number;
  readonly maxSteps: number;
  readonly accumulateGradBatches: number;
}

export class ProgressLogger implements FitCallback {
  private readonly progress: Progress;

  constructor(private readonly options: ProgressLoggerOptions) {
    this.progress = new Progress(options.enabled);
  }

  onTrainBatchEnd(fit: FitState, step: TrainBatchEnd): void {
    const { maxEpochs, maxSteps, accumulateGradBatches } = this.options;
    const state: ProgressState = {
      stage: "fit",
      epoch: step.epoch,
      batch: step.batch,
      total: step.total,
      cells: fit.cells,
      seconds: step.seconds,
      loss: step.loss,
      ...(Number.isFinite(maxEpochs) && { epochs: maxEpochs }),
      batchesDone: step.batchesDone,
      batchesLeft: Math.min(
        (maxEpochs - step.epoch) * step.total - step.batch,
        maxSteps >= 0
          ? (maxSteps - fit.position.globalStep) * accumulateGradBatches
          : Number.POSITIVE_INFINITY,
      ),
    };
    this.progress.update(state);
    if (step.logged) this.progress.log(state);
  }

  onValidationEnd(fit: FitState, validation: ValidationEnd): void {
    this.progress.log({
      stage: "validate",
      epoch: validation.epoch,
      batch: fit.position.batchesConsumed,
      total: null,
      cells: validation.cells,
      seconds: validation.seconds,
      loss: validation.loss,
    });
  }

  onTrainEpochEnd(fit: FitState, end: TrainEpochEnd): void {
    if (!end.complete) return;
    const { epoch, batch, total, seconds } = end;
    this.progress.log({ stage: "fit", epoch, batch, total, cells: fit.cells, seconds });
  }
}
