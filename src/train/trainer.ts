// The training, validation and prediction loops (upstream drives them with Lightning).
// Conventions kept from Lightning so upstream configs mean the same thing here:
// - global step = optimizer steps for gradient models, batches for streaming models (no optimizer);
// - the loss is divided by accumulate_grad_batches and the optimizer steps every that many batches
//   (and at the end of an epoch);
// - checkpoints go to <default_root_dir>/lightning_logs/version_N/checkpoints/epoch=E-step=S.*,
//   by default one at the end of each epoch, keeping the newest only.
// A checkpoint holds the position (epoch, batches consumed, global step) and every random state,
// and the loader skips consumed batches, so `ckptPath` resumes exactly where a run stopped.

import { copyFile, mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../data/atomic-file.js";
import type { Batch, JsonValue } from "../data/batch.js";
import { ArgumentError, CheckpointError } from "../errors.js";
import type { CellariumModel, PredictOptions, PredictOutput, TrainerContext } from "../models/model.js";
import { clipGradNorm, clipGradValue } from "../optim/clip.js";
import type { AnyOptimizer } from "../optim/registry.js";
import type { LrScheduler } from "../optim/schedulers.js";
import { mul } from "../tensor/ops/elementwise.js";
import { noGrad } from "../tensor/tensor.js";
import { type Checkpoint, loadCheckpoint, saveCheckpoint, type TrainerPosition } from "./checkpoint.js";
import { MetricsCsv } from "./metrics.js";
import { type CellariumModule, optimParams } from "./module.js";
import { Progress } from "./progress.js";
import { createRunDir } from "./run-dir.js";

/** Batches of one epoch for this replica, skipping the first `batchesConsumed` (a resume). */
export interface BatchSource {
  epochBatches(position: { epoch: number; batchesConsumed: number }): AsyncIterable<Batch>;
  /** Batches in a full epoch of this replica. */
  readonly batchesPerEpoch: number;
}

export interface CheckpointOptions {
  /** Save every this many global steps (Lightning's every_n_train_steps); 0 = off. */
  readonly everyNTrainSteps?: number;
  /** Save at the end of every this many epochs; 0 = off. Default 1, unless everyNTrainSteps is set. */
  readonly everyNEpochs?: number;
  /** Checkpoints kept: -1 all, k > 0 the newest k (there is no monitored metric). Default 1. */
  readonly saveTopK?: number;
  /** Also keep a copy named last.safetensors. */
  readonly saveLast?: boolean;
}

export interface TrainerOptions {
  /** Default: 1000 when maxSteps is -1, as Lightning. */
  readonly maxEpochs?: number;
  /** -1 = no limit. */
  readonly maxSteps?: number;
  /** Batches per epoch: a count, or a fraction of the epoch. */
  readonly limitTrainBatches?: number;
  readonly limitValBatches?: number;
  readonly limitPredictBatches?: number;
  /** Default 50. */
  readonly logEveryNSteps?: number;
  readonly accumulateGradBatches?: number;
  readonly gradientClipVal?: number | null;
  readonly gradientClipAlgorithm?: "norm" | "value";
  /** Default: the working directory. */
  readonly defaultRootDir?: string;
  /** false: no checkpoints. */
  readonly checkpointing?: false | CheckpointOptions;
  readonly enableProgressBar?: boolean;
  /** The replica this process is and how many train together (data parallelism). */
  readonly numReplicas?: number;
  readonly replicaRank?: number;
  /** Stored in checkpoints for reference (the resolved command-line config). */
  readonly config?: JsonValue;
}

export interface FitResult {
  readonly runDir: string;
  readonly position: TrainerPosition;
  /** Checkpoints on disk at the end, oldest first. */
  readonly checkpoints: readonly string[];
  readonly cells: number;
  readonly seconds: number;
}

function cellsIn(batch: Batch): number {
  return batch.x_ng.nRows;
}

function limitOf(limit: number | undefined, perEpoch: number, name: string): number {
  if (limit === undefined) return perEpoch;
  if (!(limit >= 0)) throw new ArgumentError(`Trainer: ${name} must be >= 0, got ${limit}`);
  // Lightning: an int is a count of batches, a float in [0, 1] a fraction of the epoch.
  return Number.isInteger(limit) && limit !== 1 ? Math.min(limit, perEpoch) : Math.floor(limit * perEpoch);
}

export class Trainer {
  readonly options: TrainerOptions;

  constructor(options: TrainerOptions = {}) {
    this.options = options;
    const accumulate = options.accumulateGradBatches ?? 1;
    if (!Number.isInteger(accumulate) || accumulate < 1) {
      throw new ArgumentError(`Trainer: accumulate_grad_batches must be an integer >= 1, got ${accumulate}`);
    }
  }

  /** Trains `module` on `data`; with `ckptPath`, resumes from that checkpoint. */
  async fit(
    module: CellariumModule,
    data: BatchSource,
    fitOptions: { ckptPath?: string } = {},
  ): Promise<FitResult> {
    const o = this.options;
    const model = module.model;
    const maxSteps = o.maxSteps ?? -1;
    const maxEpochs = o.maxEpochs ?? (maxSteps === -1 ? 1000 : Number.POSITIVE_INFINITY);
    const accumulate = o.accumulateGradBatches ?? 1;
    const logEvery = o.logEveryNSteps ?? 50;
    const checkpointing = o.checkpointing === false ? null : (o.checkpointing ?? {});
    const everyNSteps = checkpointing?.everyNTrainSteps ?? 0;
    const everyNEpochs = checkpointing?.everyNEpochs ?? (everyNSteps > 0 ? 0 : 1);
    const saveTopK = checkpointing?.saveTopK ?? 1;

    const runDir = await createRunDir(o.defaultRootDir ?? process.cwd());
    const metrics = new MetricsCsv(join(runDir, "metrics.csv"));
    const progress = new Progress(o.enableProgressBar ?? true);
    const optimization = module.configureOptimizers();
    let position: TrainerPosition = { epoch: 0, batchesConsumed: 0, globalStep: 0 };
    if (fitOptions.ckptPath) position = await restore(fitOptions.ckptPath, module, optimization);

    const saved: string[] = [];
    const save = async (at: TrainerPosition, epochLabel: number) => {
      const dir = join(runDir, "checkpoints");
      const path = join(dir, `epoch=${epochLabel}-step=${at.globalStep}.safetensors`);
      await mkdir(dir, { recursive: true });
      await saveCheckpoint(path, snapshot(module, optimization, at, o.config));
      saved.push(path);
      if (checkpointing?.saveLast) await copyFile(path, join(dir, "last.safetensors"));
      while (saveTopK >= 0 && saved.length > saveTopK) await rm(saved.shift()!, { force: true });
    };

    const context = (): TrainerContext => ({
      epoch: position.epoch,
      globalStep: position.globalStep,
      numReplicas: o.numReplicas ?? 1,
      replicaRank: o.replicaRank ?? 0,
      writeTextFile: writeFileAtomic,
    });
    const start = performance.now();
    let cells = 0;
    let done = maxSteps === 0;
    model.train(true);
    model.onTrainStart?.(context());
    const perEpoch = data.batchesPerEpoch;
    const limit = limitOf(o.limitTrainBatches, perEpoch, "limit_train_batches");

    while (!done && position.epoch < maxEpochs) {
      const epoch = position.epoch;
      let consumed = position.batchesConsumed;
      let lossSum = 0;
      let lossCount = 0;
      if (consumed < limit) {
        for await (const raw of data.epochBatches({ epoch, batchesConsumed: consumed })) {
          const batch = module.transform(raw);
          const output = model.forward(batch);
          consumed++;
          cells += cellsIn(batch);
          if (output.loss) {
            lossSum += output.loss.item();
            lossCount++;
            if (optimization) {
              const scaled = accumulate === 1 ? output.loss : mul(output.loss, 1 / accumulate);
              scaled.backward();
            }
          }
          const boundary = !optimization || consumed % accumulate === 0 || consumed === limit;
          if (boundary) {
            if (optimization) step(optimization.optimizer, optimization.scheduler, model, o);
            position = { epoch, batchesConsumed: consumed, globalStep: position.globalStep + 1 };
            model.onTrainBatchEnd?.(context());
            const seconds = (performance.now() - start) / 1000;
            const loss = lossCount > 0 ? lossSum / lossCount : undefined;
            const state = {
              stage: "fit" as const,
              epoch,
              batch: consumed,
              total: limit,
              cells,
              seconds,
              loss,
            };
            progress.update(state);
            if (position.globalStep % logEvery === 0) {
              progress.log(state);
              metrics.log({
                epoch,
                step: position.globalStep,
                cells,
                elapsed_s: seconds,
                cells_per_s: cells / seconds,
                ...(loss !== undefined && { train_loss: loss }),
                ...(optimization && { lr: optimization.optimizer.paramGroups[0]!.lr }),
              });
              lossSum = 0;
              lossCount = 0;
            }
            if (everyNSteps > 0 && position.globalStep % everyNSteps === 0) await save(position, epoch);
            if (maxSteps >= 0 && position.globalStep >= maxSteps) {
              done = true;
              break;
            }
          }
          if (consumed >= limit) break;
        }
      }
      if (consumed < limit && !done) {
        throw new ArgumentError(
          `Trainer: the data ended after ${consumed} batches of epoch ${epoch}, expected ${limit}`,
        );
      }
      if (consumed >= limit) {
        // The epoch is complete: hooks see it, and the position moves to the next epoch's start.
        model.onTrainEpochEnd?.(context());
        position = { epoch: epoch + 1, batchesConsumed: 0, globalStep: position.globalStep };
        const seconds = (performance.now() - start) / 1000;
        progress.log({ stage: "fit", epoch, batch: consumed, total: limit, cells, seconds });
        if (everyNEpochs > 0 && (epoch + 1) % everyNEpochs === 0) await save(position, epoch);
      }
    }
    await model.onTrainEnd?.(context());
    return { runDir, position, checkpoints: saved, cells, seconds: (performance.now() - start) / 1000 };
  }

  /** Mean validation loss over the data (ValidateMixin models). */
  async validate(module: CellariumModule, data: BatchSource): Promise<{ loss: number; cells: number }> {
    const model = module.model;
    if (!model.validate) throw new ArgumentError(`${model.className} does not support validate`);
    model.train(false);
    const limit = limitOf(this.options.limitValBatches, data.batchesPerEpoch, "limit_val_batches");
    let total = 0;
    let weight = 0;
    let batches = 0;
    await noGradAsync(async () => {
      for await (const raw of data.epochBatches({ epoch: 0, batchesConsumed: 0 })) {
        if (batches++ >= limit) break;
        const batch = module.transform(raw);
        const loss = model.validate!(batch).loss;
        if (loss) {
          total += loss.item() * cellsIn(batch);
          weight += cellsIn(batch);
        }
      }
    });
    return { loss: weight > 0 ? total / weight : Number.NaN, cells: weight };
  }

  /**
   * Runs predict over the data, handing each batch and its output to `write` in order; `options`
   * go to every predict call (the model's own predict arguments).
   */
  async predict(
    module: CellariumModule,
    data: BatchSource,
    write: (batch: Batch, output: PredictOutput) => Promise<void> | void,
    options?: PredictOptions,
  ): Promise<{ cells: number; seconds: number }> {
    const model = module.model;
    if (!model.predict) throw new ArgumentError(`${model.className} does not support predict`);
    model.train(false);
    const progress = new Progress(this.options.enableProgressBar ?? true);
    const limit = limitOf(this.options.limitPredictBatches, data.batchesPerEpoch, "limit_predict_batches");
    const start = performance.now();
    let cells = 0;
    let batches = 0;
    for await (const raw of data.epochBatches({ epoch: 0, batchesConsumed: 0 })) {
      if (batches++ >= limit) break;
      const batch = module.transform(raw);
      const output = noGrad(() => model.predict!(batch, options));
      await write(batch, output);
      cells += cellsIn(batch);
      progress.update({
        stage: "predict",
        epoch: 0,
        batch: batches,
        total: limit,
        cells,
        seconds: (performance.now() - start) / 1000,
      });
    }
    const seconds = (performance.now() - start) / 1000;
    progress.log({ stage: "predict", epoch: 0, batch: batches, total: limit, cells, seconds });
    return { cells, seconds };
  }
}

async function noGradAsync(fn: () => Promise<void>): Promise<void> {
  // noGrad is synchronous; validation's awaits happen between batches, where no op runs.
  let pending: Promise<void> = Promise.resolve();
  noGrad(() => {
    pending = fn();
  });
  await pending;
}

function step(
  optimizer: AnyOptimizer,
  scheduler: LrScheduler | null,
  model: CellariumModel,
  o: TrainerOptions,
): void {
  const params = optimParams(model.parameters());
  if (o.gradientClipVal !== undefined && o.gradientClipVal !== null) {
    if ((o.gradientClipAlgorithm ?? "norm") === "norm") clipGradNorm(params, o.gradientClipVal);
    else clipGradValue(params, o.gradientClipVal);
  }
  optimizer.step();
  scheduler?.step();
  optimizer.zeroGrad();
}

function snapshot(
  module: CellariumModule,
  optimization: ReturnType<CellariumModule["configureOptimizers"]>,
  position: TrainerPosition,
  config: JsonValue | undefined,
): Checkpoint {
  const model = module.model;
  return {
    model: { className: model.className, initArgs: model.initArgs() },
    modelState: model.stateDict(),
    transforms: module.transforms.flatMap((t) => (typeof t === "function" ? [] : [t.state()])),
    ...(optimization && {
      optimizer: { config: module.optimizerJson(), state: optimization.optimizer.stateDict() },
    }),
    ...(optimization?.scheduler && {
      scheduler: {
        config: module.schedulerConfig
          ? { name: module.schedulerConfig.name, kwargs: module.schedulerConfig.kwargs }
          : null,
        state: optimization.scheduler.stateDict(),
      },
    }),
    position,
    random: model.randomState ? { model: model.randomState() } : {},
    ...(config !== undefined && { config }),
  };
}

async function restore(
  path: string,
  module: CellariumModule,
  optimization: ReturnType<CellariumModule["configureOptimizers"]>,
): Promise<TrainerPosition> {
  const checkpoint = await loadCheckpoint(path);
  const model = module.model;
  if (checkpoint.model.className !== model.className) {
    throw new CheckpointError(
      `${path}: checkpoint of ${checkpoint.model.className}, cannot resume ${model.className}`,
    );
  }
  model.loadStateDict(checkpoint.modelState);
  if (optimization) {
    if (!checkpoint.optimizer)
      throw new CheckpointError(`${path}: checkpoint has no optimizer state to resume from`);
    optimization.optimizer.loadStateDict(checkpoint.optimizer.state as never);
    if (optimization.scheduler) {
      if (!checkpoint.scheduler)
        throw new CheckpointError(`${path}: checkpoint has no LR scheduler state to resume from`);
      optimization.scheduler.loadStateDict(checkpoint.scheduler.state);
    }
  }
  if (model.setRandomState && checkpoint.random.model !== undefined)
    model.setRandomState(checkpoint.random.model);
  return checkpoint.position;
}
