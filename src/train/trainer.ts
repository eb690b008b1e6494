// The training, validation and prediction loops (upstream drives them with Lightning).
// Conventions kept from Lightning so upstream configs mean the same thing here:
// - global step = optimizer steps for gradient models, batches for streaming models (no optimizer);
// - the loss is divided by accumulate_grad_batches and the optimizer steps every that many batches
//   (and at the end of an epoch);
// - checkpoints go to <default_root_dir>/lightning_logs/version_N/checkpoints/epoch=E-step=S.*,
//   by default one at the end of each epoch, keeping the newest only.
// A checkpoint holds the position (epoch, batches consumed, global step) and every random state,
// and the loader skips consumed batches, so `ckptPath` resumes exactly where a run stopped.
// Data parallelism (SPEC.md section 7): with a ReplicaGroup, N replicas run this loop together,
// each on its part of the cells; gradient models average gradients at every optimizer step,
// streaming models merge into rank 0 at each epoch end, and rank 0 alone writes checkpoints,
// metrics and outputs. A partial run (one process of several) writes a partial checkpoint at the
// end instead of the outputs; `cellarium merge` combines the parts.

import { join } from "node:path";
import { writeFileAtomic } from "../data/atomic-file.js";
import type { Batch } from "../data/batch.js";
import { checkBatch } from "../data/check-block.js";
import { ArgumentError, DataValueError } from "../errors.js";
import type { JsonValue } from "../json.js";
import type { CellariumModel, PredictOptions, PredictOutput, TrainerContext } from "../models/model.js";
import { clipGradNorm, clipGradValue } from "../optim/clip.js";
import type { AnyOptimizer } from "../optim/registry.js";
import type { LrScheduler } from "../optim/schedulers.js";
import { mul } from "../tensor/ops/elementwise.js";
import { noGrad } from "../tensor/tensor.js";
import { callHook, type FitState, type TrainBatchEnd } from "./callbacks/callback.js";
import { CsvLogger } from "./callbacks/csv-logger.js";
import { HistogramLogger } from "./callbacks/histogram-logger.js";
import { type CheckpointOptions, ModelCheckpoint } from "./callbacks/model-checkpoint.js";
import { PartialCheckpoint } from "./callbacks/partial-checkpoint.js";
import { ProgressLogger } from "./callbacks/progress-logger.js";
import { type CellariumModule, optimParams } from "./cellarium-module.js";
import type { ParallelInfo, TrainerPosition } from "./checkpoint.js";
import { restore } from "./fit-checkpoint.js";
import { writeGenesH5ad } from "./genes-file.js";
import { Progress } from "./progress.js";
import type { ReplicaGroup } from "./replica-group.js";
import { createRunDir, settleFailedRunDir } from "./run-dir.js";
import { StreamingReplicas } from "./streaming-replicas.js";

export type { CheckpointOptions } from "./callbacks/model-checkpoint.js";

/** The setting that chooses where a run's files go, named in errors about them. */
const ROOT_KEY = "trainer.default_root_dir";
const DIRPATH_KEY = "ModelCheckpoint dirpath";

/** The loop's own view of a fit: its callbacks see it read-only (FitState). */
type LoopState = { -readonly [K in keyof FitState]: FitState[K] };

/** Batches of one epoch for this replica, skipping the first `batchesConsumed` (a resume). */
export interface BatchSource {
  epochBatches(position: { epoch: number; batchesConsumed: number }): AsyncIterable<Batch>;
  /** Batches in a full epoch of this replica. */
  readonly batchesPerEpoch: number;
  /**
   * True when every batch's arrays were allocated for that batch alone and nobody reads them after
   * the Trainer (a DataLoader's batches): the transforms may then overwrite them in place.
   */
  readonly ownsBatches?: boolean;
  /**
   * True when every matrix of every batch was checked where it was read (a DataLoader's: values
   * finite, CSR indices in range, sorted and unique; src/data/check-block.ts). Batches of other
   * sources are checked by the Trainer before any transform sees them.
   */
  readonly checked?: boolean;
  /**
   * Called with each batch (as epochBatches yielded it) once the step is done with it: nothing
   * reads its arrays afterwards, so the source may reuse their memory (DataLoader.release).
   */
  release?(batch: Batch): void;
  /**
   * Where row `row` of a batch it yielded (not yet released) came from: the file and the cell in
   * it, e.g. "cell AAAC-1 (row 1003)"; errors about a value of the batch are prefixed with them.
   */
  placeOfRow?(batch: Batch, row: number): Promise<CellPlace | undefined>;
  /**
   * The collection's row indices of the cells of a batch it yielded (not yet released), so that a
   * prediction writer can copy those cells' obs.
   */
  indicesOf?(batch: Batch): Int32Array | undefined;
}

export interface CellPlace {
  readonly file: string;
  readonly cell: string;
}

/** An int counts batches, a float a fraction of them (Lightning's limit_*_batches, val_check_interval). */
export type BatchCount = { readonly count: number } | { readonly fraction: number };

/**
 * {@link Trainer}'s options: Lightning's Trainer arguments camelCased (`max_epochs` is
 * `maxEpochs`, `log_every_n_steps` is `logEveryNSteps`, ...), plus checkpointing (Lightning's
 * ModelCheckpoint) and data parallelism.
 */
export interface TrainerOptions {
  /** Default: 1000 when maxSteps is -1, as Lightning. */
  readonly maxEpochs?: number;
  /** -1 = no limit. */
  readonly maxSteps?: number;
  /**
   * Batches per epoch: a count or a fraction of the epoch ({count} / {fraction}); a plain number
   * is a count when it is an integer other than 1, else a fraction (1: all).
   */
  readonly limitTrainBatches?: number | BatchCount;
  readonly limitValBatches?: number | BatchCount;
  readonly limitPredictBatches?: number | BatchCount;
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
  /**
   * false: no metrics.csv (Lightning's logger: false); a CSVLogger's save_dir (default
   * defaultRootDir), name and version place the run directory. Default true.
   */
  readonly logger?:
    | boolean
    | { readonly saveDir?: string; readonly name?: string; readonly version?: number | string };
  /**
   * Validate (fit's `val` data) every this many training batches, or this fraction of an epoch;
   * default: at the end of each epoch.
   */
  readonly valCheckInterval?: BatchCount;
  /** Validate only after every this many epochs; null: valCheckInterval counts batches across epochs. Default 1. */
  readonly checkValEveryNEpoch?: number | null;
  /** The replica this process is and how many train together (data parallelism). */
  readonly numReplicas?: number;
  readonly replicaRank?: number;
  /** Replicas in threads of this process training together; numReplicas and replicaRank come from it. */
  readonly replicaGroup?: ReplicaGroup;
  /**
   * This process is one part of a run split across processes: it writes its state to `path` at
   * the end (a partial checkpoint) and leaves the outputs (onTrainEnd) to `cellarium merge`.
   */
  readonly partial?: { readonly fingerprint: string; readonly path: string };
  /** Stored in checkpoints for reference (the resolved command-line config). */
  readonly config?: JsonValue;
  /**
   * seed_everything: the key of the random transforms' per-batch streams (src/transforms/batch-random.ts).
   * Default 0. A resumed fit keeps its checkpoint's.
   */
  readonly seed?: number;
}

/** A validation pass: the loss and the model's own metrics, averaged over its cells. */
export interface ValidationResult {
  readonly loss: number;
  readonly cells: number;
  readonly metrics: Readonly<Record<string, number>>;
}

export interface FitResult {
  readonly runDir: string;
  /** The last validation's mean loss, when the fit validated. */
  readonly valLoss?: number;
  readonly position: TrainerPosition;
  /** Checkpoints on disk at the end, oldest first. */
  readonly checkpoints: readonly string[];
  readonly cells: number;
  readonly seconds: number;
}

function cellsIn(batch: Batch): number {
  return batch.x_ng.nRows;
}

/**
 * The epochs a fit may run: max_epochs, where -1 means no limit (Lightning's), then max_steps must
 * end the fit; unset, 1000 (Lightning's default) unless max_steps is set.
 */
function epochLimit(maxEpochs: number | undefined, maxSteps: number): number {
  if (maxEpochs === undefined) return maxSteps === -1 ? 1000 : Number.POSITIVE_INFINITY;
  if (!Number.isInteger(maxEpochs) || maxEpochs < -1) {
    throw new ArgumentError(`Trainer: max_epochs must be an integer >= -1, got ${maxEpochs}`, {
      key: "trainer.max_epochs",
      value: maxEpochs,
    });
  }
  if (maxEpochs !== -1) return maxEpochs;
  if (maxSteps === -1) {
    throw new ArgumentError(
      "Trainer: max_epochs -1 (no limit) needs max_steps, or the fit never ends; set trainer.max_steps or a max_epochs >= 0",
      { key: "trainer.max_epochs", value: maxEpochs },
    );
  }
  return Number.POSITIVE_INFINITY;
}

/** A plain number as a BatchCount: an integer other than 1 counts batches, else a fraction (1: all). */
function batchCountOf(limit: number | BatchCount): BatchCount {
  if (typeof limit !== "number") return limit;
  return Number.isInteger(limit) && limit !== 1 ? { count: limit } : { fraction: limit };
}

function limitOf(limit: number | BatchCount | undefined, perEpoch: number, name: string): number {
  if (limit === undefined) return perEpoch;
  const count = batchCountOf(limit);
  const n = "count" in count ? count.count : count.fraction;
  if (!(n >= 0) || ("fraction" in count && n > 1))
    throw new ArgumentError(`Trainer: ${name} must be a count >= 0 or a fraction in [0, 1], got ${n}`, {
      key: `trainer.${name}`,
      value: n,
    });
  // Lightning: an int is a count of batches, a float in [0, 1] a fraction of the epoch.
  return "count" in count ? Math.min(n, perEpoch) : Math.floor(n * perEpoch);
}

/**
 * Training batches between validations (Lightning's val_check_batch): val_check_interval's count,
 * or its fraction of the epoch's batches (at least 1); default the whole epoch.
 */
function valCheckBatches(interval: number | BatchCount | undefined, perEpoch: number): number {
  if (interval === undefined) return perEpoch;
  const count = batchCountOf(interval);
  const n = "count" in count ? count.count : count.fraction;
  if (!("count" in count ? Number.isInteger(n) && n >= 1 : n > 0 && n <= 1))
    throw new ArgumentError(
      `Trainer: val_check_interval must be a count >= 1 or a fraction in (0, 1], got ${n}`,
      {
        key: "trainer.val_check_interval",
        value: n,
      },
    );
  return "count" in count ? n : Math.max(1, Math.floor(n * perEpoch));
}

/**
 * The training loop (Lightning's Trainer as cellarium-ml uses it): `fit` runs epochs of a
 * {@link CellariumModule} over a loader (streaming models accumulate, gradient models step their
 * optimizer), logs metrics.csv, writes checkpoints and resumes from one; `validate` and `predict`
 * run the pipeline and the model without gradients.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mkdtempSync } from "node:fs";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import { CellariumModule, DataLoader, DistributedAnnDataCollection, TDigest, Trainer, loadCheckpoint } from "cellarium-ts/node";
 *
 * const dadc = await DistributedAnnDataCollection.open({ filenames: "examples/data/demo_{0..1}.h5ad" });
 * const loader = new DataLoader(dadc, { batchKeys: { x_ng: { attr: "X" }, var_names_g: { attr: "var_names" } }, batchSize: 500 });
 * const model = new TDigest({ var_names_g: dadc.schema.varNames });
 * const trainer = new Trainer({ maxEpochs: 1, enableProgressBar: false, defaultRootDir: mkdtempSync(join(tmpdir(), "run-")) });
 * const result = await trainer.fit(new CellariumModule({ model }), loader);
 * assert.equal(result.cells, 2000);
 * // the checkpoint holds the model's class, init args and state: enough to rebuild it
 * const checkpoint = await loadCheckpoint(result.checkpoints.at(-1)!);
 * assert.equal(checkpoint.model.className, "TDigest");
 * assert.equal(checkpoint.position.epoch, 1);
 * dadc.close();
 * ```
 */
export class Trainer {
  readonly options: TrainerOptions;

  constructor(options: TrainerOptions = {}) {
    this.options = options;
    const accumulate = options.accumulateGradBatches ?? 1;
    if (!Number.isInteger(accumulate) || accumulate < 1) {
      throw new ArgumentError(`Trainer: accumulate_grad_batches must be an integer >= 1, got ${accumulate}`);
    }
  }

  /**
   * Trains `module` on `data`; with `ckptPath`, resumes from that checkpoint. With `val` (a
   * ValidateMixin model; read by rank 0 only, whole), validates at the end of each epoch, or as
   * valCheckInterval / checkValEveryNEpoch say, and logs val_loss to metrics.csv.
   */
  async fit(
    module: CellariumModule,
    data: BatchSource,
    fitOptions: { ckptPath?: string; val?: BatchSource } = {},
  ): Promise<FitResult> {
    const o = this.options;
    const model = module.model;
    const group = o.replicaGroup;
    const numReplicas = group?.numReplicas ?? o.numReplicas ?? 1;
    const rank = group?.rank ?? o.replicaRank ?? 0;
    // Rank 0 of a thread group speaks for the group; every process of a partial run for itself.
    const leader = (group?.rank ?? 0) === 0;
    const maxSteps = o.maxSteps ?? -1;
    const maxEpochs = epochLimit(o.maxEpochs, maxSteps);
    const accumulate = o.accumulateGradBatches ?? 1;
    const logEvery = o.logEveryNSteps ?? 50;
    // checkpointing: false writes none (it used to write one per epoch into a directory made on demand).
    const checkpointing = o.checkpointing === false ? null : (o.checkpointing ?? {});
    const val = leader && model.validate ? (fitOptions.val ?? null) : null;
    const checkValEvery = o.checkValEveryNEpoch === undefined ? 1 : o.checkValEveryNEpoch;

    const optimization = module.configureOptimizers();
    const streaming = optimization === null;
    if ((numReplicas > 1 || o.partial) && streaming && !model.merge) {
      throw new ArgumentError(
        `Trainer: ${model.className} has neither an optimizer nor a merge, so ${numReplicas} replicas cannot combine their results`,
      );
    }
    const parallel: ParallelInfo | undefined =
      numReplicas > 1
        ? {
            numReplicas,
            ...(o.partial && { partial: { rank, numReplicas, fingerprint: o.partial.fingerprint } }),
          }
        : undefined;
    const logger = typeof o.logger === "object" ? o.logger : {};
    const runDir = leader
      ? await createRunDir(logger.saveDir ?? o.defaultRootDir ?? process.cwd(), ROOT_KEY, {
          ...(logger.name !== undefined && { name: logger.name }),
          ...(logger.version !== undefined && { version: logger.version }),
        })
      : "";
    try {
      const fit: LoopState = {
        module,
        optimization,
        group,
        parallel,
        leader,
        config: o.config,
        // The random transforms' seed: a resumed fit draws its remaining batches' streams from the
        // checkpoint's, whatever seed_everything this run drew.
        seed: o.seed ?? 0,
        position: { epoch: 0, batchesConsumed: 0, globalStep: 0 },
        empty: true,
        cells: 0,
      };
      // metrics.csv and histograms.jsonl are made as their loggers are built, the checkpoint
      // directory at setup, before a resume reads anything.
      const progress = new ProgressLogger({
        enabled: leader && (o.enableProgressBar ?? true),
        maxEpochs,
        maxSteps,
        accumulateGradBatches: accumulate,
      });
      const metrics =
        leader && o.logger !== false
          ? new CsvLogger(join(runDir, "metrics.csv"), ROOT_KEY, val ? (model.validationMetrics ?? []) : [])
          : null;
      const histograms =
        leader && model.histograms ? new HistogramLogger(join(runDir, "histograms.jsonl"), ROOT_KEY) : null;
      const checkpoints = checkpointing
        ? new ModelCheckpoint(
            checkpointing,
            checkpointing.dirpath ?? join(runDir, "checkpoints"),
            checkpointing.dirpath !== undefined ? DIRPATH_KEY : ROOT_KEY,
            streaming,
          )
        : null;
      const partial = o.partial ? new PartialCheckpoint(o.partial.path) : null;
      const callbacks = [progress, metrics, histograms, checkpoints, partial].filter(
        (callback): callback is NonNullable<typeof callback> => callback !== null,
      );
      await callHook(callbacks, "setup", fit);
      // A streaming model's state is the merge of the replicas' states, so on resume rank 0 takes
      // the checkpoint's and the others start empty; gradient replicas all hold the same parameters.
      const loadModel = !(group && streaming && group.rank > 0);
      if (fitOptions.ckptPath) {
        const restored = await restore(
          fitOptions.ckptPath,
          module,
          optimization,
          parallel,
          loadModel,
          o.config,
        );
        fit.position = restored.position;
        fit.seed = restored.seed ?? fit.seed;
        fit.empty = !loadModel;
      }
      if (group && optimization) group.broadcastParameters(model.parameters());
      const replicas = group && streaming ? new StreamingReplicas(group, model, fit) : null;

      const context = (): TrainerContext => ({
        epoch: fit.position.epoch,
        globalStep: fit.position.globalStep,
        numReplicas,
        replicaRank: rank,
        wholeRun: !o.partial && rank === 0,
        writeTextFile: writeFileAtomic,
        writeGenes: writeGenesH5ad,
      });
      const start = performance.now();
      const elapsed = () => (performance.now() - start) / 1000;
      let done = maxSteps === 0;
      model.train(true);
      model.onTrainStart?.(context());
      await replicas?.share();
      await callHook(callbacks, "onTrainStart", fit);
      const perEpoch = data.batchesPerEpoch;
      const limit = limitOf(o.limitTrainBatches, perEpoch, "limit_train_batches");
      const valEvery = valCheckBatches(o.valCheckInterval, limit);
      // Batches read by this run (not before a resume), for the progress's ETA.
      let batchesRun = 0;
      let valLoss: number | undefined;
      // After training batch `consumed` of `epoch`: Lightning's val_check_batch counts batches within
      // the epoch, or across epochs when check_val_every_n_epoch is null.
      const maybeValidate = async (epoch: number, consumed: number) => {
        if (val === null) return;
        const iteration = checkValEvery === null ? epoch * limit + consumed : consumed;
        if ((checkValEvery !== null && (epoch + 1) % checkValEvery !== 0) || iteration % valEvery !== 0)
          return;
        const result = await this.validateWith(module, val, fit.seed);
        model.train(true);
        valLoss = result.loss;
        await callHook(callbacks, "onValidationEnd", fit, { epoch, seconds: elapsed(), ...result });
      };

      while (!done && fit.position.epoch < maxEpochs && !model.fitComplete?.()) {
        const epoch = fit.position.epoch;
        let consumed = fit.position.batchesConsumed;
        let lossSum = 0;
        let lossCount = 0;
        model.onTrainEpochStart?.(context());
        if (consumed < limit) {
          for await (const raw of data.epochBatches({ epoch, batchesConsumed: consumed })) {
            let batch: Batch;
            let output: ReturnType<CellariumModel["forward"]>;
            try {
              batch = module.transform(checkedInput(data, raw), {
                ownsValues: data.ownsBatches === true,
                position: { seed: fit.seed, stage: "fit", epoch, batch: consumed, replica: rank },
              });
              output = model.forward(batch);
            } catch (error) {
              throw await placed(error, data, raw);
            }
            fit.empty = false;
            if (replicas) replicas.unmerged = true;
            consumed++;
            batchesRun++;
            fit.cells += cellsIn(batch);
            if (output.loss) {
              lossSum += output.loss.item();
              lossCount++;
              if (optimization) {
                const scaled = accumulate === 1 ? output.loss : mul(output.loss, 1 / accumulate);
                scaled.backward();
              }
            }
            // The loss is computed and back-propagated: the step reads the parameters, not the batch.
            data.release?.(raw);
            const boundary = !optimization || consumed % accumulate === 0 || consumed === limit;
            if (boundary) {
              if (optimization) step(optimization.optimizer, optimization.scheduler, model, o, group);
              fit.position = { epoch, batchesConsumed: consumed, globalStep: fit.position.globalStep + 1 };
              model.onTrainBatchEnd?.(context());
              const stepEnd: TrainBatchEnd = {
                epoch,
                batch: consumed,
                total: limit,
                seconds: elapsed(),
                loss: lossCount > 0 ? lossSum / lossCount : undefined,
                batchesDone: batchesRun,
                logged: fit.position.globalStep % logEvery === 0,
              };
              await callHook(callbacks, "onTrainBatchEnd", fit, stepEnd);
              if (stepEnd.logged) {
                lossSum = 0;
                lossCount = 0;
              }
              // Lightning validates before it saves the step's checkpoint and before max_steps ends the fit.
              await maybeValidate(epoch, consumed);
              await callHook(callbacks, "onTrainStepEnd", fit, stepEnd);
              if (maxSteps >= 0 && fit.position.globalStep >= maxSteps) {
                done = true;
                break;
              }
            } else await maybeValidate(epoch, consumed);
            if (consumed >= limit) break;
          }
        }
        if (consumed < limit && !done) {
          throw new ArgumentError(
            `Trainer: the data ended after ${consumed} batches of epoch ${epoch}, expected ${limit}`,
          );
        }
        // Replicas merge at the end of an epoch, also one that max_steps cut short (the fit ends
        // there: this is the merge at the end of the fit, made before the epoch's checkpoint).
        await replicas?.reduce();
        const complete = consumed >= limit;
        if (complete) {
          // The epoch is complete: the model's hook sees it, and the position moves to the next
          // epoch's start.
          model.onTrainEpochEnd?.(context());
          await replicas?.share();
          fit.position = { epoch: epoch + 1, batchesConsumed: 0, globalStep: fit.position.globalStep };
        }
        await callHook(callbacks, "onTrainEpochEnd", fit, {
          epoch,
          batch: consumed,
          total: limit,
          seconds: elapsed(),
          complete,
        });
      }
      if (replicas?.unmerged) await replicas.reduce();
      if (leader && fit.empty) {
        // Outputs of a model that saw nothing (NaN means, empty digests) must not look like results.
        throw new ArgumentError(
          `Trainer: the fit saw no cells (max_epochs ${o.maxEpochs ?? "default"}, max_steps ${maxSteps}, limit_train_batches ${o.limitTrainBatches ?? "all"}, ${data.batchesPerEpoch} batches per epoch), so it wrote no outputs`,
          { key: "trainer.max_epochs", value: o.maxEpochs },
        );
      }
      await callHook(callbacks, "onTrainEnd", fit);
      // A partial run leaves the outputs to `cellarium merge` (its PartialCheckpoint wrote its state).
      if (!o.partial && leader) await model.onTrainEnd?.(context());
      return {
        runDir,
        position: fit.position,
        checkpoints: checkpoints?.saved ?? [],
        cells: fit.cells,
        seconds: elapsed(),
        ...(valLoss !== undefined && { valLoss }),
      };
    } catch (error) {
      // No empty version_N is left behind; one with metrics or checkpoints says it failed.
      if (runDir !== "") await settleFailedRunDir(runDir, error);
      throw error;
    }
  }

  /** Mean validation loss over the data (ValidateMixin models). */
  async validate(module: CellariumModule, data: BatchSource): Promise<ValidationResult> {
    return this.validateWith(module, data, this.options.seed ?? 0);
  }

  /** validate, the random transforms keyed by `seed` (a fit's, which a resume takes from its checkpoint). */
  private async validateWith(
    module: CellariumModule,
    data: BatchSource,
    seed: number,
  ): Promise<ValidationResult> {
    const model = module.model;
    if (!model.validate) throw new ArgumentError(`${model.className} does not support validate`);
    const names = model.validationMetrics ?? [];
    const metricSums = new Float64Array(names.length);
    model.train(false);
    const limit = limitOf(this.options.limitValBatches, data.batchesPerEpoch, "limit_val_batches");
    let total = 0;
    let weight = 0;
    let batches = 0;
    for await (const raw of data.epochBatches({ epoch: 0, batchesConsumed: 0 })) {
      if (batches >= limit) break;
      const position = { seed, stage: "validate", epoch: 0, batch: batches++, replica: 0 } as const;
      // No tape: grad mode is off for exactly the synchronous work of each batch (a scope around
      // the loop would end at its first await).
      const result = await noGradPlaced(data, raw, () => {
        const batch = module.transform(checkedInput(data, raw), {
          ownsValues: data.ownsBatches === true,
          position,
        });
        const output = model.validate!(batch);
        return { loss: output.loss?.item(), metrics: output.metrics, cells: cellsIn(batch) };
      });
      if (result.loss !== undefined) {
        total += result.loss * result.cells;
        weight += result.cells;
        names.forEach((name, i) => {
          metricSums[i]! += (result.metrics?.[name] ?? Number.NaN) * result.cells;
        });
      }
      data.release?.(raw);
    }
    const metrics = Object.fromEntries(names.map((name, i) => [name, metricSums[i]! / weight]));
    return { loss: weight > 0 ? total / weight : Number.NaN, cells: weight, metrics };
  }

  /**
   * Runs predict over the data, handing each batch and its output to `write` in order; `options`
   * go to every predict call (the model's own predict arguments).
   */
  async predict(
    module: CellariumModule,
    data: BatchSource,
    write: (batch: Batch, output: PredictOutput, cells?: Int32Array) => Promise<void> | void,
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
    const seed = this.options.seed ?? 0;
    for await (const raw of data.epochBatches({ epoch: 0, batchesConsumed: 0 })) {
      if (batches >= limit) break;
      const position = { seed, stage: "predict", epoch: 0, batch: batches++, replica: 0 } as const;
      const { batch, output } = await noGradPlaced(data, raw, () => {
        const batch = module.transform(checkedInput(data, raw), {
          ownsValues: data.ownsBatches === true,
          position,
        });
        return { batch, output: model.predict!(batch, options) };
      });
      await write(batch, output, data.indicesOf?.(raw));
      cells += cellsIn(batch);
      // Outputs are the model's own arrays (a writer may keep them), never views of the batch.
      data.release?.(raw);
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

/** `raw` as the transforms may see it: checked unless its source checked it where it was read. */
function checkedInput(data: BatchSource, raw: Batch): Batch {
  return data.checked === true ? raw : checkBatch(raw);
}

/** fn() with grad mode off, its DataValueErrors placed in their file (placed). */
async function noGradPlaced<T>(data: BatchSource, raw: Batch, fn: () => T): Promise<T> {
  try {
    return noGrad(fn);
  } catch (error) {
    throw await placed(error, data, raw);
  }
}

/**
 * A DataValueError about a row of `raw` with the row's file and cell in front (BatchSource.placeOfRow);
 * other errors as they are.
 */
async function placed(error: unknown, data: BatchSource, raw: Batch): Promise<unknown> {
  if (!(error instanceof DataValueError) || error.row === undefined || data.placeOfRow === undefined) {
    return error;
  }
  const place = await data.placeOfRow(raw, error.row).catch(() => undefined);
  if (place === undefined) return error;
  const { key, value, row, col } = error;
  return new DataValueError(`${place.file}: ${place.cell}: ${error.message}`, {
    cause: error,
    file: place.file,
    ...(key !== undefined && { key }),
    value,
    row,
    ...(col !== undefined && { col }),
  });
}

function step(
  optimizer: AnyOptimizer,
  scheduler: LrScheduler | null,
  model: CellariumModel,
  o: TrainerOptions,
  group: ReplicaGroup | undefined,
): void {
  if (group) group.averageGradients(model.parameters());
  const params = optimParams(model.parameters());
  if (o.gradientClipVal !== undefined && o.gradientClipVal !== null) {
    if ((o.gradientClipAlgorithm ?? "norm") === "norm") clipGradNorm(params, o.gradientClipVal);
    else clipGradValue(params, o.gradientClipVal);
  }
  optimizer.step();
  scheduler?.step();
  optimizer.zeroGrad();
}
