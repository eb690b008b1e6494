// Lightning's CSVLogger as this Trainer writes it: metrics.csv in the run directory, a row every
// log_every_n_steps steps (cells, throughput, the mean training loss since the last row, the
// learning rate) and one per validation (val_loss and the model's own metrics).

import { MetricsCsv } from "../metrics.js";
import type { FitCallback, FitState, TrainBatchEnd, ValidationEnd } from "./callback.js";

export class CsvLogger implements FitCallback {
  private readonly csv: MetricsCsv;

  /** `key`: the setting that chose the file's directory; `validationMetrics`: the model's own columns. */
  constructor(path: string, key: string, validationMetrics: readonly string[]) {
    this.csv = new MetricsCsv(path, key, validationMetrics);
  }

  onTrainBatchEnd(fit: FitState, step: TrainBatchEnd): void {
    if (!step.logged) return;
    const optimization = fit.optimization;
    this.csv.log({
      epoch: step.epoch,
      step: fit.position.globalStep,
      cells: fit.cells,
      elapsed_s: step.seconds,
      cells_per_s: fit.cells / step.seconds,
      ...(step.loss !== undefined && { train_loss: step.loss }),
      ...(optimization && { lr: optimization.optimizer.paramGroups[0]!.lr }),
    });
  }

  onValidationEnd(fit: FitState, validation: ValidationEnd): void {
    this.csv.log({
      epoch: validation.epoch,
      step: fit.position.globalStep,
      elapsed_s: validation.seconds,
      val_loss: validation.loss,
      ...validation.metrics,
    });
  }
}
