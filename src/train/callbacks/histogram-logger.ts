// histograms.jsonl: the model's histograms (CellariumModel.histograms, e.g. a parameter's values)
// at every logged step, as upstream's models log them to TensorBoard.

import { HistogramLog } from "../histograms.js";
import type { FitCallback, FitState, TrainBatchEnd } from "./callback.js";

export class HistogramLogger implements FitCallback {
  private readonly log: HistogramLog;

  constructor(path: string, key: string) {
    this.log = new HistogramLog(path, key);
  }

  onTrainBatchEnd(fit: FitState, step: TrainBatchEnd): void {
    if (!step.logged) return;
    const histograms = fit.module.model.histograms?.() ?? {};
    for (const [name, t] of Object.entries(histograms))
      this.log.log(fit.position.globalStep, step.epoch, name, t.data);
  }
}
