// Lightning's ModelCheckpoint without a monitored metric: a checkpoint every every_n_train_steps
// steps and at the end of every every_n_epochs epochs, named by the filename template, the newest
// save_top_k kept, optionally also as last.safetensors. Rank 0 alone writes; a streaming model's
// state is first merged across the replicas.

import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { linkFileAtomic, outputError } from "../../data/atomic-file.js";
import { saveCheckpoint, type TrainerPosition } from "../checkpoint.js";
import { snapshot } from "../fit-checkpoint.js";
import type { FitCallback, FitState, TrainBatchEnd, TrainEpochEnd } from "./callback.js";

export interface CheckpointOptions {
  /** Save every this many global steps (Lightning's every_n_train_steps); 0 = off. */
  readonly everyNTrainSteps?: number;
  /** Save at the end of every this many epochs; 0 = off. Default 1, unless everyNTrainSteps is set. */
  readonly everyNEpochs?: number;
  /** Checkpoints kept: -1 all, k > 0 the newest k (there is no monitored metric). Default 1. */
  readonly saveTopK?: number;
  /** Also keep a copy named last.safetensors. */
  readonly saveLast?: boolean;
  /** Directory of the checkpoints; default <run directory>/checkpoints. */
  readonly dirpath?: string;
  /** Name template with {epoch} and {step} (Lightning's, default "{epoch}-{step}"); ".safetensors" is added. */
  readonly filename?: string;
  /** "{epoch}" names "epoch=0" (Lightning's auto_insert_metric_name); default true. */
  readonly autoInsertMetricName?: boolean;
}

/**
 * A checkpoint's name from Lightning's filename template: {epoch} and {step}, with a format spec
 * such as {epoch:02d}; with autoInsertMetricName, "{epoch}" becomes "epoch=0". Default
 * "{epoch}-{step}" -> "epoch=0-step=20".
 */
function checkpointName(
  template: string | undefined,
  autoInsertMetricName: boolean | undefined,
  epoch: number,
  at: TrainerPosition,
): string {
  const values = { epoch, step: at.globalStep };
  return (template ?? "{epoch}-{step}").replace(
    /\{(epoch|step)(?::0?(\d+)d)?\}/g,
    (_, name: "epoch" | "step", width?: string) => {
      const text = String(values[name]).padStart(Number(width ?? 0), "0");
      return (autoInsertMetricName ?? true) ? `${name}=${text}` : text;
    },
  );
}

export class ModelCheckpoint implements FitCallback {
  /** Checkpoints on disk, oldest first. */
  readonly saved: string[] = [];
  private readonly everyNSteps: number;
  private readonly everyNEpochs: number;
  private readonly saveTopK: number;

  /**
   * `dir`: where the checkpoints go; `key`: the setting that chose it, named in errors about it.
   * `streaming`: the model has no optimizer, so replicas merge their states before a save.
   */
  constructor(
    private readonly options: CheckpointOptions,
    private readonly dir: string,
    private readonly key: string,
    private readonly streaming: boolean,
  ) {
    this.everyNSteps = options.everyNTrainSteps ?? 0;
    this.everyNEpochs = options.everyNEpochs ?? (this.everyNSteps > 0 ? 0 : 1);
    this.saveTopK = options.saveTopK ?? 1;
  }

  /** The directory is made before the first batch, so that one that cannot take files fails now. */
  async setup(fit: FitState): Promise<void> {
    if (fit.leader)
      await mkdir(this.dir, { recursive: true }).catch((error) => {
        throw outputError(this.dir, error, this.key);
      });
  }

  async onTrainStepEnd(fit: FitState, step: TrainBatchEnd): Promise<void> {
    if (this.everyNSteps > 0 && fit.position.globalStep % this.everyNSteps === 0)
      await this.save(fit, step.epoch);
  }

  /**
   * At the end of an epoch, at the position reached: the next epoch's start, or the middle of the
   * epoch when max_steps ended the fit there (Lightning still ends the epoch; a resume continues it).
   */
  async onTrainEpochEnd(fit: FitState, end: TrainEpochEnd): Promise<void> {
    if (this.everyNEpochs > 0 && (end.epoch + 1) % this.everyNEpochs === 0) await this.save(fit, end.epoch);
  }

  private async save(fit: FitState, epochLabel: number): Promise<void> {
    const { module, group, position } = fit;
    const model = module.model;
    const name = checkpointName(
      this.options.filename,
      this.options.autoInsertMetricName,
      epochLabel,
      position,
    );
    const path = join(this.dir, `${name}.safetensors`);
    const state = group && this.streaming ? await group.mergedState(model, fit.empty) : model.stateDict();
    if (!fit.leader || state === null) return;
    await saveCheckpoint(path, snapshot(fit, state), {
      key: this.key,
    });
    // A template without {step} names every checkpoint alike: the file is replaced, not kept twice.
    if (this.saved.at(-1) === path) this.saved.pop();
    this.saved.push(path);
    // A second name for the same bytes, made atomically: a kill never leaves a partial last.safetensors.
    if (this.options.saveLast)
      await linkFileAtomic(path, join(this.dir, "last.safetensors"), { key: this.key });
    while (this.saveTopK >= 0 && this.saved.length > this.saveTopK)
      await rm(this.saved.shift()!, { force: true });
  }
}
