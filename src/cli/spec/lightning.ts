// The Lightning side of a config: the Trainer's whole init signature (Lightning 2.5), the DDP
// strategy's, the callbacks cellarium-ml configs use, and LightningCLI's top-level keys. Each key
// is used, ignored (it changes nothing here at any value) or accepted only at the values that mean
// what cellarium-ts does; anything else is refused by name (keys.ts, `only`).

import { availableParallelism } from "node:os";
import { ConfigError } from "../../errors.js";
import type { PredictionWriterOptions } from "../../io/prediction-writer.js";
import type { CheckpointOptions } from "../../train/trainer.js";
import {
  boolean,
  countOrFraction,
  defaults,
  ignored,
  integer,
  key,
  mapping,
  nullable,
  number,
  oneOf,
  only,
  type Parsed,
  parseSection,
  required,
  type Section,
  shownValue,
  string,
  strings,
  type Value,
} from "./keys.js";

/** A class path's last name: `lightning.pytorch.strategies.DDPStrategy` -> `DDPStrategy`. */
export function classNameOf(classPath: string): string {
  return classPath.slice(classPath.lastIndexOf(".") + 1);
}

/** `{class_path, init_args, dict_kwargs}` or a bare class path, as jsonargparse takes a class. */
export function classSpec(
  value: Value,
  where: string,
): { classPath: string; initArgs: Record<string, Value>; dictKwargs: Record<string, Value> } {
  if (typeof value === "string") return { classPath: value, initArgs: {}, dictKwargs: {} };
  const spec = parseSection(
    value,
    {
      class_path: key(string, required, "the class"),
      init_args: nullable(mapping, "its constructor's arguments"),
      dict_kwargs: nullable(mapping, "arguments outside its signature"),
    },
    where,
  );
  return { classPath: spec.class_path, initArgs: spec.init_args ?? {}, dictKwargs: spec.dict_kwargs ?? {} };
}

const STRATEGY_NAMES = [
  "auto",
  "ddp",
  "ddp_spawn",
  "ddp_fork",
  "ddp_notebook",
  "ddp_find_unused_parameters_true",
];

// DDPStrategy's init signature (Lightning 2.5 and torch's DistributedDataParallel kwargs): replicas
// here are worker threads that average gradients every step and merge streaming states at epoch end,
// whatever the process-group and bucketing settings.
const ddpOnly = (shown: unknown) => only([], shown, "replicas here are worker threads on this machine");
const ddpIgnored = (shown: unknown) => ignored(shown, "PyTorch process-group and bucketing setting");
const DDP_STRATEGY: Section = {
  accelerator: ddpOnly(null),
  parallel_devices: ddpOnly(null),
  cluster_environment: ddpOnly(null),
  checkpoint_io: ddpOnly(null),
  precision_plugin: ddpOnly(null),
  ddp_comm_state: ddpOnly(null),
  ddp_comm_hook: ddpOnly(null),
  ddp_comm_wrapper: ddpOnly(null),
  model_averaging_period: ddpOnly(null),
  process_group_backend: ddpIgnored(null),
  timeout: ddpIgnored("0:30:00"),
  start_method: ddpIgnored("popen"),
  output_device: ddpOnly(null),
  dim: only([0], 0, "batches are split by cells"),
  broadcast_buffers: ddpIgnored(true),
  init_sync: ddpIgnored(true),
  process_group: ddpOnly(null),
  bucket_cap_mb: ddpIgnored(null),
  find_unused_parameters: ddpIgnored(false),
  check_reduction: ddpIgnored(false),
  gradient_as_bucket_view: ddpIgnored(false),
  static_graph: ddpIgnored(false),
  delay_all_reduce_named_params: ddpOnly(null),
  param_to_hook_all_reduce: ddpOnly(null),
  mixed_precision: ddpOnly(null),
  device_mesh: ddpOnly(null),
  skip_all_reduce_unused_params: ddpIgnored(false),
};

function strategy(value: Value, where: string): null {
  if (typeof value === "string") {
    if (!STRATEGY_NAMES.includes(value))
      throw new ConfigError(`${where}: "${value}" is not supported (auto, ddp or DDPStrategy are)`, {
        key: where,
      });
    return null;
  }
  const spec = classSpec(value, where);
  if (classNameOf(spec.classPath) !== "DDPStrategy")
    throw new ConfigError(`${where}: "${spec.classPath}" is not supported (auto, ddp or DDPStrategy are)`, {
      key: where,
    });
  parseSection(spec.initArgs, DDP_STRATEGY, `${where}.init_args`);
  parseSection(spec.dictKwargs, DDP_STRATEGY, `${where}.dict_kwargs`);
  return null;
}

/** trainer.devices as a replica count: an integer, its string, "auto" (1), or -1 (one per CPU). */
function devices(value: Value, where: string): number {
  if (value === "auto") return 1;
  const count = integer(value, where);
  if (count === -1) return availableParallelism();
  if (count < 1)
    throw new ConfigError(`${where}: expected a replica count >= 1, "auto" or -1, got ${shownValue(value)}`, {
      key: where,
    });
  return count;
}

const PRECISIONS = [32, "32", "32-true"];

const CSV_LOGGER = {
  save_dir: key(string, required, "the root of the run directories"),
  name: nullable(string, "the folder of the versions (null: none)", "lightning_logs"),
  version: nullable(
    (v, where) => (typeof v === "string" && !/^\d+$/.test(v) ? v : integer(v, where)),
    "version_N or a name (null: the next unused N)",
  ),
  prefix: only([""], "", "metric names are metrics.csv's own"),
  flush_logs_every_n_steps: ignored(100, "rows are appended as they are logged"),
} satisfies Section;

type LoggerSpec = boolean | { saveDir: string; name: string; version?: number | string };

/** trainer.logger: true / false, or a CSVLogger (the metrics.csv written here is its format). */
function logger(value: Value, where: string): LoggerSpec {
  if (typeof value === "boolean" || typeof value === "string") return boolean(value, where);
  const { classPath, initArgs } = classSpec(value, where);
  if (classNameOf(classPath) !== "CSVLogger")
    throw new ConfigError(
      `${where}: "${classPath}" cannot be honoured by cellarium-ts (it writes metrics.csv: use CSVLogger, true or false)`,
      { key: where },
    );
  const c = parseSection(initArgs, CSV_LOGGER, `${where}.init_args`);
  return {
    saveDir: c.save_dir,
    name: c.name ?? "",
    ...(c.version !== null && { version: c.version }),
  };
}

/** Lightning's Trainer init signature; `maxEpochs` is the model's default (upstream's trainer_defaults). */
function trainerSection(maxEpochs: number | null) {
  return {
    accelerator: only(["auto", "cpu"], "auto", "cellarium-ts computes on the CPU"),
    strategy: key(strategy, null, "auto, ddp or DDPStrategy: replicas average gradients / merge states"),
    devices: key(devices, 1, "replicas in worker threads on this machine (-1: one per CPU)"),
    num_nodes: only([1], 1, "runs across machines use --num_replicas and `cellarium merge`"),
    precision: only(PRECISIONS, null, "models compute in float32 and accumulate in float64"),
    logger: key(
      logger,
      true,
      "false: no metrics.csv; a CSVLogger's save_dir, name and version place the run directory",
    ),
    callbacks: {
      ...key(callbackList, [], "ModelCheckpoint, PredictionWriter, LearningRateMonitor"),
      shown: null,
    },
    fast_dev_run: only([false], false, "use limit_train_batches / max_steps"),
    max_epochs: nullable(
      integer,
      "epochs to train (-1: until max_steps); unset: 1,000 unless max_steps is set",
      maxEpochs,
    ),
    min_epochs: ignored(null, "no early stopping here"),
    max_steps: key(integer, -1, "optimizer steps to train (-1: no limit)"),
    min_steps: ignored(null, "no early stopping here"),
    max_time: only([], null, "use max_steps or max_epochs"),
    limit_train_batches: nullable(
      countOrFraction,
      "training batches per epoch: an int counts, a float is a fraction",
    ),
    limit_val_batches: nullable(countOrFraction, "validation batches: an int counts, a float is a fraction"),
    limit_test_batches: ignored(null, "there is no test stage"),
    limit_predict_batches: nullable(
      countOrFraction,
      "predicted batches: an int counts, a float is a fraction",
    ),
    overfit_batches: only([0], 0, "use limit_train_batches"),
    val_check_interval: nullable(
      countOrFraction,
      "validate every this many training batches (int) or fraction of an epoch (float); default: at each epoch's end",
    ),
    check_val_every_n_epoch: nullable(
      integer,
      "validate after every this many epochs (null: val_check_interval counts batches across epochs)",
      1,
    ),
    num_sanity_val_steps: ignored(null, "no sanity validation; it changes no result"),
    log_every_n_steps: key(integer, 50, "steps between rows of metrics.csv"),
    enable_checkpointing: key(boolean, true, "false: no checkpoints"),
    enable_progress_bar: key(boolean, true, "progress with ETA on a terminal, log lines otherwise"),
    enable_model_summary: ignored(null, "no model summary is printed"),
    accumulate_grad_batches: key(integer, 1, "batches whose gradients make one optimizer step"),
    gradient_clip_val: nullable(number, "clip gradients at this value (null: no clipping)"),
    gradient_clip_algorithm: key(oneOf(["norm", "value"] as const), "norm", "norm or value"),
    deterministic: ignored(null, "runs are deterministic for a given seed"),
    benchmark: ignored(null, "a cuDNN setting"),
    inference_mode: ignored(true, "validate and predict never record gradients"),
    use_distributed_sampler: only([true], true, "replicas always read disjoint parts of the cells"),
    profiler: only([], null, "use node --cpu-prof"),
    detect_anomaly: only([false], false, "non-finite input values are refused where they are read"),
    barebones: only([false], false, "no barebones mode"),
    plugins: only([], null, "no Lightning plugins"),
    sync_batchnorm: ignored(false, "no model here has batch norm across replicas"),
    reload_dataloaders_every_n_epochs: ignored(0, "loaders are deterministic; reloading changes nothing"),
    default_root_dir: nullable(
      string,
      "where lightning_logs/version_N is made (null: the working directory)",
    ),
    model_registry: only([], null, "no model registry"),
  } satisfies Section;
}

export type TrainerSpec = Parsed<ReturnType<typeof trainerSection>>;

/** The trainer section with the model's default max_epochs (null: Lightning's). */
export function parseTrainer(map: Value, maxEpochs: number | null): TrainerSpec {
  return parseSection(map, trainerSection(maxEpochs), "trainer");
}

export function trainerDefaults(maxEpochs: number | null): Record<string, unknown> {
  return defaults(trainerSection(maxEpochs));
}

// --- callbacks --------------------------------------------------------------------------------

const MODEL_CHECKPOINT = {
  dirpath: nullable(string, "directory of the checkpoints (null: <run directory>/checkpoints)"),
  filename: nullable(string, 'name template: {epoch} and {step}, e.g. "{epoch}-{step}" (the default)'),
  monitor: only([], null, "checkpoints are kept by recency; no metric is monitored"),
  verbose: ignored(false, "a log setting"),
  save_last: key(boolean, false, "also keep the newest as last.safetensors"),
  save_top_k: key(integer, 1, "checkpoints kept: -1 all, k the newest k"),
  save_on_exception: only([false], false, "an interrupted run resumes from its last checkpoint"),
  save_weights_only: only([false], false, "checkpoints always hold the optimizer state"),
  mode: ignored("min", "no metric is monitored"),
  auto_insert_metric_name: key(boolean, true, 'name {epoch} as "epoch=0"'),
  every_n_train_steps: nullable(integer, "save every this many steps"),
  train_time_interval: only([], null, "use every_n_train_steps"),
  every_n_epochs: nullable(
    integer,
    "save every this many epochs (default 1 unless every_n_train_steps is set)",
  ),
  save_on_train_epoch_end: ignored(null, "epoch checkpoints are written after the epoch's validation"),
  enable_version_counter: ignored(true, "a template without {step} is overwritten atomically"),
} satisfies Section;

const PREDICTION_WRITER = {
  output_dir: key(string, required, "directory of the predictions file"),
  prediction_size: nullable(integer, "the width of the written key (null: all its columns)"),
  key: key(string, "x_ng", "the prediction output to write"),
  gzip: key(boolean, true, "gzip the CSV"),
  max_threadpool_workers: ignored(8, "one writer thread"),
  field_names: nullable(strings, "batch keys written as columns before the predictions (obs_names_n first)"),
  format: nullable(
    oneOf(["csv", "h5ad", "zarr"] as const),
    "csv, h5ad or zarr (null: h5ad or zarr when output_dir ends in .h5ad or .zarr, which is then the file or AnnData-Zarr store, else csv)",
  ),
  obsm_key: nullable(string, "obsm key of an AnnData's prediction (null: X_pca, X_geneformer, else the key)"),
} satisfies Section;

const LEARNING_RATE_MONITOR = {
  logging_interval: ignored(null, "metrics.csv has the learning rate of every logged step"),
  log_momentum: ignored(false, "only the learning rate is logged"),
  log_weight_decay: ignored(false, "only the learning rate is logged"),
} satisfies Section;

export interface CallbacksSpec {
  readonly checkpoint: CheckpointOptions | null;
  readonly writer: PredictionWriterOptions | null;
}

type Callback =
  | { kind: "checkpoint"; options: CheckpointOptions }
  | { kind: "writer"; options: PredictionWriterOptions }
  | { kind: "lr" };

function callback(value: Value, where: string): Callback {
  const { classPath, initArgs } = classSpec(value, where);
  const name = classNameOf(classPath);
  if (name === "ModelCheckpoint") {
    const c = parseSection(initArgs, MODEL_CHECKPOINT, `${where}.init_args`);
    return {
      kind: "checkpoint",
      options: {
        ...(c.every_n_train_steps !== null && { everyNTrainSteps: c.every_n_train_steps }),
        ...(c.every_n_epochs !== null && { everyNEpochs: c.every_n_epochs }),
        saveTopK: c.save_top_k,
        saveLast: c.save_last,
        ...(c.dirpath !== null && { dirpath: c.dirpath }),
        ...(c.filename !== null && {
          filename: checkFilename(c.filename, `${where}.init_args.filename`),
        }),
        autoInsertMetricName: c.auto_insert_metric_name,
      },
    };
  }
  if (name === "PredictionWriter") {
    const c = parseSection(initArgs, PREDICTION_WRITER, `${where}.init_args`);
    return {
      kind: "writer",
      options: {
        outputDir: c.output_dir,
        outputDirKey: `${where}.init_args.output_dir`,
        key: c.key,
        predictionSize: c.prediction_size,
        gzip: c.gzip,
        fieldNames: c.field_names ?? [],
        ...(c.format !== null && { format: c.format }),
        obsmKey: c.obsm_key,
      },
    };
  }
  if (name === "LearningRateMonitor") {
    parseSection(initArgs, LEARNING_RATE_MONITOR, `${where}.init_args`);
    return { kind: "lr" };
  }
  throw new ConfigError(
    `${where}: callback "${classPath}" is not supported (ModelCheckpoint, PredictionWriter, LearningRateMonitor are)`,
    { key: where },
  );
}

/** A ModelCheckpoint filename may name {epoch} and {step} only (no metric is monitored). */
function checkFilename(template: string, where: string): string {
  for (const match of template.matchAll(/\{([^}:]*)(?::[^}]*)?\}/g)) {
    if (match[1] !== "epoch" && match[1] !== "step")
      throw new ConfigError(
        `${where}: "${template}" names {${match[1]}}; a filename may name {epoch} and {step}`,
        {
          key: where,
        },
      );
  }
  if (/[/\\]/.test(template))
    throw new ConfigError(`${where}: "${template}" has a directory; put it in dirpath`, { key: where });
  return template;
}

function callbackList(value: Value, where: string): Callback[] {
  const list = Array.isArray(value) ? value : [value];
  return list.map((item, i) => callback(item, Array.isArray(value) ? `${where}.${i}` : where));
}

/** The callbacks of a parsed trainer: the checkpointing (null: none) and the prediction writer. */
export function callbacksOf(trainer: TrainerSpec): CallbacksSpec {
  const callbacks = trainer.callbacks;
  const checkpoints = callbacks.filter((c) => c.kind === "checkpoint");
  const writers = callbacks.filter((c) => c.kind === "writer");
  if (checkpoints.length > 1 || writers.length > 1)
    throw new ConfigError("trainer.callbacks: at most one ModelCheckpoint and one PredictionWriter", {
      key: "trainer.callbacks",
    });
  return {
    checkpoint: trainer.enable_checkpointing ? (checkpoints[0]?.options ?? {}) : null,
    writer: writers[0]?.options ?? null,
  };
}

// --- top level --------------------------------------------------------------------------------

/** LightningCLI's top level, besides trainer, model and data. */
export const TOP_LEVEL = {
  seed_everything: key(seedOf, null, "an integer, or true for a seed drawn at random and stored in the run"),
  ckpt_path: nullable(string, "checkpoint to resume from (fit) or to use (validate, predict)"),
  optimizer: only([], null, "use model.optim_fn and model.optim_kwargs"),
  lr_scheduler: only([], null, "use model.scheduler_fn and model.scheduler_kwargs"),
  return_predictions: ignored(false, "predictions are written by the PredictionWriter, never held"),
} satisfies Section;

/**
 * seed_everything as Lightning reads it: an integer, or true / false / absent for a seed drawn at
 * random (the CLI draws it once and stores it, so a run can be repeated): null here.
 */
function seedOf(value: Value, where: string): number | null {
  if (value === true || value === false || value === "true" || value === "false") return null;
  const seed = integer(value, where);
  if (seed < 0)
    throw new ConfigError(`${where}: expected true or a non-negative integer, got ${seed}`, { key: where });
  return seed;
}
