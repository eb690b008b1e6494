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

import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { linkFileAtomic, outputError, writeFileAtomic } from "../data/atomic-file.js";
import type { Batch, JsonValue } from "../data/batch.js";
import { checkBatch } from "../data/check-block.js";
import { ArgumentError, CheckpointError, DataValueError } from "../errors.js";
import type { CellariumModel, PredictOptions, PredictOutput, TrainerContext } from "../models/model.js";
import { clipGradNorm, clipGradValue } from "../optim/clip.js";
import type { AnyOptimizer } from "../optim/registry.js";
import type { LrScheduler } from "../optim/schedulers.js";
import { mul } from "../tensor/ops/elementwise.js";
import type { Tensor } from "../tensor/tensor.js";
import { noGrad } from "../tensor/tensor.js";
import {
  type Checkpoint,
  loadCheckpoint,
  type ParallelInfo,
  saveCheckpoint,
  type TrainerPosition,
} from "./checkpoint.js";
import { writeGenesH5ad } from "./genes-file.js";
import { HistogramLog } from "./histograms.js";
import { MetricsCsv } from "./metrics.js";
import { type CellariumModule, optimParams } from "./module.js";
import { Progress } from "./progress.js";
import type { ReplicaGroup } from "./replica-group.js";
import { checkResumeConfig } from "./resume-check.js";
import { createRunDir, settleFailedRunDir } from "./run-dir.js";

/** The setting that chooses where a run's files go, named in errors about them. */
const ROOT_KEY = "trainer.default_root_dir";
const DIRPATH_KEY = "ModelCheckpoint dirpath";

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
    const checkpointing = o.checkpointing === false ? null : (o.checkpointing ?? {});
    const everyNSteps = checkpointing?.everyNTrainSteps ?? 0;
    // checkpointing: false writes none (it used to write one per epoch into a directory made on demand).
    const everyNEpochs =
      checkpointing === null ? 0 : (checkpointing.everyNEpochs ?? (everyNSteps > 0 ? 0 : 1));
    const saveTopK = checkpointing?.saveTopK ?? 1;
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
      const metrics =
        leader && o.logger !== false
          ? new MetricsCsv(join(runDir, "metrics.csv"), ROOT_KEY, val ? (model.validationMetrics ?? []) : [])
          : null;
      const histograms =
        leader && model.histograms ? new HistogramLog(join(runDir, "histograms.jsonl"), ROOT_KEY) : null;
      const checkpointDir = checkpointing?.dirpath ?? join(runDir, "checkpoints");
      const checkpointKey = checkpointing?.dirpath !== undefined ? DIRPATH_KEY : ROOT_KEY;
      // Made before the first batch, so that a directory that cannot take files fails now.
      if (leader && checkpointing)
        await mkdir(checkpointDir, { recursive: true }).catch((error) => {
          throw outputError(checkpointDir, error, checkpointKey);
        });
      const progress = new Progress(leader && (o.enableProgressBar ?? true));
      let position: TrainerPosition = { epoch: 0, batchesConsumed: 0, globalStep: 0 };
      // A streaming model's state is the merge of the replicas' states, so on resume rank 0 takes
      // the checkpoint's and the others start empty; gradient replicas all hold the same parameters.
      const loadModel = !(group && streaming && group.rank > 0);
      // Whether this replica's model has seen no cells since it was built or reset.
      let empty = true;
      // The random transforms' seed: a resumed fit draws its remaining batches' streams from the
      // checkpoint's, whatever seed_everything this run drew.
      let seed = o.seed ?? 0;
      if (fitOptions.ckptPath) {
        const restored = await restore(
          fitOptions.ckptPath,
          module,
          optimization,
          parallel,
          loadModel,
          o.config,
        );
        position = restored.position;
        seed = restored.seed ?? seed;
        empty = !loadModel;
      }
      if (group && optimization) group.broadcastParameters(model.parameters());
      // Streaming replicas hold cells not yet merged into rank 0.
      let unmerged = false;
      const reduce = async () => {
        empty = await group!.reduceToRoot(model, empty);
        if (group!.rank > 0) {
          model.resetParameters();
          empty = true;
        }
        unmerged = false;
      };

      const saved: string[] = [];
      const save = async (at: TrainerPosition, epochLabel: number) => {
        const name = checkpointName(
          checkpointing?.filename,
          checkpointing?.autoInsertMetricName,
          epochLabel,
          at,
        );
        const path = join(checkpointDir, `${name}.safetensors`);
        const state = group && streaming ? await group.mergedState(model, empty) : model.stateDict();
        if (!leader || state === null) return;
        await saveCheckpoint(path, snapshot(module, optimization, at, o.config, state, parallel, seed), {
          key: checkpointKey,
        });
        // A template without {step} names every checkpoint alike: the file is replaced, not kept twice.
        if (saved.at(-1) === path) saved.pop();
        saved.push(path);
        // A second name for the same bytes, made atomically: a kill never leaves a partial last.safetensors.
        if (checkpointing?.saveLast)
          await linkFileAtomic(path, join(checkpointDir, "last.safetensors"), { key: checkpointKey });
        while (saveTopK >= 0 && saved.length > saveTopK) await rm(saved.shift()!, { force: true });
      };

      const context = (): TrainerContext => ({
        epoch: position.epoch,
        globalStep: position.globalStep,
        numReplicas,
        replicaRank: rank,
        wholeRun: !o.partial && rank === 0,
        writeTextFile: writeFileAtomic,
        writeGenes: writeGenesH5ad,
      });
      // Rank 0's shared part of a streaming state (model.sharedState) to every replica.
      const share = async () => {
        if (group && streaming && model.sharedState) await group.broadcastShared(model);
      };
      const start = performance.now();
      let cells = 0;
      let done = maxSteps === 0;
      model.train(true);
      model.onTrainStart?.(context());
      await share();
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
        const result = await this.validateWith(module, val, seed);
        model.train(true);
        valLoss = result.loss;
        const seconds = (performance.now() - start) / 1000;
        metrics?.log({
          epoch,
          step: position.globalStep,
          elapsed_s: seconds,
          val_loss: result.loss,
          ...result.metrics,
        });
        progress.log({
          stage: "validate",
          epoch,
          batch: position.batchesConsumed,
          total: null,
          cells: result.cells,
          seconds,
          loss: result.loss,
        });
      };

      while (!done && position.epoch < maxEpochs) {
        const epoch = position.epoch;
        let consumed = position.batchesConsumed;
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
                position: { seed, stage: "fit", epoch, batch: consumed, replica: rank },
              });
              output = model.forward(batch);
            } catch (error) {
              throw await placed(error, data, raw);
            }
            empty = false;
            unmerged = streaming;
            consumed++;
            batchesRun++;
            cells += cellsIn(batch);
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
                ...(Number.isFinite(maxEpochs) && { epochs: maxEpochs }),
                batchesDone: batchesRun,
                batchesLeft: Math.min(
                  (maxEpochs - epoch) * limit - consumed,
                  maxSteps >= 0 ? (maxSteps - position.globalStep) * accumulate : Number.POSITIVE_INFINITY,
                ),
              };
              progress.update(state);
              if (position.globalStep % logEvery === 0) {
                progress.log(state);
                metrics?.log({
                  epoch,
                  step: position.globalStep,
                  cells,
                  elapsed_s: seconds,
                  cells_per_s: cells / seconds,
                  ...(loss !== undefined && { train_loss: loss }),
                  ...(optimization && { lr: optimization.optimizer.paramGroups[0]!.lr }),
                });
                if (histograms) {
                  for (const [name, t] of Object.entries(model.histograms!()))
                    histograms.log(position.globalStep, epoch, name, t.data);
                }
                lossSum = 0;
                lossCount = 0;
              }
              // Lightning validates before it saves the step's checkpoint and before max_steps ends the fit.
              await maybeValidate(epoch, consumed);
              if (everyNSteps > 0 && position.globalStep % everyNSteps === 0) await save(position, epoch);
              if (maxSteps >= 0 && position.globalStep >= maxSteps) {
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
        if (consumed >= limit) {
          // The epoch is complete: replicas merge, hooks see it, and the position moves to the
          // next epoch's start.
          if (group && streaming) await reduce();
          model.onTrainEpochEnd?.(context());
          await share();
          position = { epoch: epoch + 1, batchesConsumed: 0, globalStep: position.globalStep };
          const seconds = (performance.now() - start) / 1000;
          progress.log({ stage: "fit", epoch, batch: consumed, total: limit, cells, seconds });
          if (everyNEpochs > 0 && (epoch + 1) % everyNEpochs === 0) await save(position, epoch);
        } else if (everyNEpochs > 0 && (epoch + 1) % everyNEpochs === 0) {
          // max_steps ended the fit inside the epoch: Lightning still ends the epoch, so its
          // checkpoint is written (at the position reached: a resume continues mid-epoch).
          if (group && streaming) await reduce();
          await save(position, epoch);
        }
      }
      if (group && streaming && unmerged) await reduce();
      if (leader && empty) {
        // Outputs of a model that saw nothing (NaN means, empty digests) must not look like results.
        throw new ArgumentError(
          `Trainer: the fit saw no cells (max_epochs ${o.maxEpochs ?? "default"}, max_steps ${maxSteps}, limit_train_batches ${o.limitTrainBatches ?? "all"}, ${data.batchesPerEpoch} batches per epoch), so it wrote no outputs`,
          { key: "trainer.max_epochs", value: o.maxEpochs },
        );
      }
      if (o.partial) {
        await saveCheckpoint(
          o.partial.path,
          snapshot(module, optimization, position, o.config, model.stateDict(), parallel, seed),
        );
      } else if (leader) await model.onTrainEnd?.(context());
      return {
        runDir,
        position,
        checkpoints: saved,
        cells,
        seconds: (performance.now() - start) / 1000,
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

function snapshot(
  module: CellariumModule,
  optimization: ReturnType<CellariumModule["configureOptimizers"]>,
  position: TrainerPosition,
  config: JsonValue | undefined,
  modelState: Record<string, Tensor>,
  parallel: ParallelInfo | undefined,
  seed: number,
): Checkpoint {
  const model = module.model;
  return {
    model: { className: model.className, initArgs: model.initArgs() },
    modelState,
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
    // The random transforms' streams are functions of the seed and the position (batch-random.ts).
    random: { ...(model.randomState && { model: model.randomState() }), transforms: { seed } },
    ...(config !== undefined && { config }),
    ...(parallel !== undefined && { parallel }),
  };
}

/** "2 replicas", "part 1 of 4" or "1 replica": how a checkpoint's run was split, for messages. */
function describeParallel(parallel: ParallelInfo | undefined): string {
  if (parallel?.partial) return `part ${parallel.partial.rank} of ${parallel.partial.numReplicas}`;
  const n = parallel?.numReplicas ?? 1;
  return `${n} replica${n === 1 ? "" : "s"}`;
}

async function restore(
  path: string,
  module: CellariumModule,
  optimization: ReturnType<CellariumModule["configureOptimizers"]>,
  parallel: ParallelInfo | undefined,
  loadModel: boolean,
  config: JsonValue | undefined,
): Promise<{ position: TrainerPosition; seed: number | undefined }> {
  const checkpoint = await loadCheckpoint(path);
  const model = module.model;
  if (checkpoint.model.className !== model.className) {
    throw new CheckpointError(
      `${path}: checkpoint of ${checkpoint.model.className}, cannot resume ${model.className}`,
    );
  }
  // Positions count each replica's batches, so a run resumes only under the split it was written
  // with (and a part only as the same part of the same run).
  const written = describeParallel(checkpoint.parallel);
  const wanted = describeParallel(parallel);
  const fingerprints = [checkpoint.parallel?.partial?.fingerprint, parallel?.partial?.fingerprint];
  // A merged checkpoint at an epoch boundary starts the parts of the next epochs of a model whose
  // later epochs need only the shared part of the state (the position does not depend on the
  // split there): every part takes that part and nothing else, so no cell is counted twice.
  const sharedStart =
    parallel?.partial !== undefined &&
    checkpoint.parallel?.partial === undefined &&
    checkpoint.position.batchesConsumed === 0 &&
    model.sharedState !== undefined;
  if (sharedStart) {
    checkResumeConfig(path, checkpoint.config, config);
    const names = Object.keys(model.sharedState!());
    model.loadSharedState!(Object.fromEntries(names.map((name) => [name, checkpoint.modelState[name]!])));
    return { position: checkpoint.position, seed: transformsSeed(checkpoint) };
  }
  if (written !== wanted || fingerprints[0] !== fingerprints[1]) {
    throw new CheckpointError(
      `${path}: written by a run of ${written}${fingerprints[0] ? ` (config ${fingerprints[0]})` : ""}, cannot resume a run of ${wanted}${fingerprints[1] ? ` (config ${fingerprints[1]})` : ""}`,
    );
  }
  checkResumeConfig(path, checkpoint.config, config);
  if (loadModel) model.loadStateDict(checkpoint.modelState);
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
  return { position: checkpoint.position, seed: transformsSeed(checkpoint) };
}

/** The seed of the random transforms' streams a checkpoint's run used, if it recorded one. */
function transformsSeed(checkpoint: Checkpoint): number | undefined {
  const transforms = checkpoint.random.transforms;
  const seed =
    typeof transforms === "object" && transforms !== null && !Array.isArray(transforms)
      ? transforms.seed
      : undefined;
  return typeof seed === "number" ? seed : undefined;
}
