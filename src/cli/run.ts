// `cellarium <model> fit|validate|predict`: reads the LightningCLI-layout config, evaluates its
// loader tags, builds the collection, loaders, transforms, model and trainer, fills in the
// arguments derived from the data (var_names_g after the transforms, n_obs, y_categories), and runs.

import { randomInt } from "node:crypto";
import { availableParallelism } from "node:os";
import { dirname, extname } from "node:path";
import { fileURLToPath } from "node:url";
import { prepareOutputDirectory } from "../data/atomic-file.js";
import type { Batch, BatchValue, JsonValue } from "../data/batch.js";
import { type BatchKeysConfig, planBatchKeys } from "../data/batch-keys.js";
import { DistributedAnnDataCollection } from "../data/collection.js";
import { DataLoader, type DataLoaderOptions } from "../data/loader.js";
import { readRegularFile } from "../data/regular-file.js";
import { ConfigError } from "../errors.js";
import { IncrementalPCA } from "../models/incremental-pca.js";
import type { CellariumModel } from "../models/model.js";
import type { Kwargs } from "../optim/registry.js";
import { kernels } from "../tensor/kernels/index.js";
import { fitReplicas } from "../train/fit-replicas.js";
import { CellariumModule } from "../train/module.js";
import { configFingerprint, type Env, partialPath, resolveReplica } from "../train/partial.js";
import { PredictionWriter, type PredictionWriterOptions } from "../train/prediction-writer.js";
import { type CheckpointOptions, type FitResult, Trainer, type TrainerOptions } from "../train/trainer.js";
import { composeTransforms, type PipelineStep } from "../transforms/compose.js";
import { ArgReader, type InitArgs } from "./args.js";
import { loadPipeline } from "./checkpoint-pipeline.js";
import { type Resolved, type ResolvedMap, resolveLoaders } from "./loaders.js";
import { setDotted } from "./overrides.js";
import { classNameOf, createModel, createTransform, type ModelEntry, type Stage } from "./registry.js";
import { checkLayout, isMap } from "./schema.js";
import { type ConfigMap, type ConfigValue, dumpConfig, parseConfigYaml } from "./yaml.js";

export interface RunOptions {
  readonly configs: readonly string[];
  readonly overrides: ReadonlyArray<readonly [string, ConfigValue]>;
  readonly printConfig?: boolean;
  readonly log?: (line: string) => void;
  /** fit: --replica_rank / --num_replicas (a partial run); the environment fills in what they leave out. */
  readonly replica?: { readonly replicaRank?: number; readonly numReplicas?: number };
  /** fit of a partial run: --partial_path, `{rank}` replaced by the rank. */
  readonly partialPath?: string;
  /** Default process.env. */
  readonly env?: Env;
}

function deepMerge(base: ConfigMap, extra: ConfigMap): ConfigMap {
  const out: ConfigMap = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    const current = out[key];
    out[key] = isMap(current) && isMap(value) ? deepMerge(current, value) : value;
  }
  return out;
}

/** Reads, merges (later files win) and overrides the config files. */
export async function readConfig(
  paths: readonly string[],
  overrides: RunOptions["overrides"],
): Promise<ConfigMap> {
  let config: ConfigMap = {};
  for (const path of paths) {
    const bytes = await readRegularFile(
      path,
      (reason, cause) =>
        new ConfigError(
          `--config ${path}: cannot read the file (${(cause as NodeJS.ErrnoException | undefined)?.code ?? reason})`,
          { file: path, key: "--config", cause },
        ),
    );
    const text = bytes.toString("utf8");
    config = deepMerge(config, parseConfigYaml(text, path));
  }
  for (const [key, value] of overrides) setDotted(config, key, value);
  checkLayout(config);
  return config;
}

function section(config: ConfigMap | ResolvedMap, key: string): ResolvedMap {
  const value = config[key];
  if (value === undefined || value === null) return {};
  if (!isMap(value as ConfigValue)) throw new ConfigError(`${key} must be a mapping`);
  return value as ResolvedMap;
}

/** `{class_path, init_args}` or a bare class path. */
function classSpec(value: Resolved, where: string): { classPath: string; initArgs: InitArgs } {
  if (typeof value === "string") return { classPath: value, initArgs: {} };
  if (isMap(value as ConfigValue) || (typeof value === "object" && value !== null && "class_path" in value)) {
    const spec = value as ResolvedMap;
    if (typeof spec.class_path !== "string") throw new ConfigError(`${where}: missing class_path`);
    for (const key of Object.keys(spec)) {
      if (!["class_path", "init_args", "dict_kwargs"].includes(key))
        throw new ConfigError(`${where}: unknown key "${key}"`);
    }
    const initArgs = spec.init_args ?? {};
    if (typeof initArgs !== "object" || Array.isArray(initArgs))
      throw new ConfigError(`${where}.init_args must be a mapping`);
    return { classPath: spec.class_path, initArgs: initArgs as InitArgs };
  }
  throw new ConfigError(
    `${where}: expected a class path or {class_path, init_args}, got ${JSON.stringify(value)}`,
  );
}

async function openData(data: ResolvedMap, log: (line: string) => void) {
  const dadc = data.dadc;
  if (dadc === undefined || dadc === null)
    throw new ConfigError("data.dadc is required (the DistributedAnnDataCollection)");
  const { classPath, initArgs } = classSpec(dadc, "data.dadc");
  if (classNameOf(classPath) !== "DistributedAnnDataCollection") {
    throw new ConfigError(
      `data.dadc.class_path: "${classPath}" is not supported; use cellarium.ml.data.DistributedAnnDataCollection`,
    );
  }
  const a = new ArgReader(initArgs, "data.dadc.init_args");
  const filenames = initArgs.filenames;
  const limits = a.optional("limits", (key) => initArgs[key] as number[]);
  const shardSize = a.optional("shard_size", a.integer);
  const lastShardSize = a.optional("last_shard_size", a.integer);
  const obsColumnsToValidate = a.optional("obs_columns_to_validate", a.strings);
  const collection = await DistributedAnnDataCollection.open({
    filenames: typeof filenames === "string" ? filenames : a.strings("filenames"),
    ...(limits !== undefined && { limits }),
    ...(shardSize !== undefined && { shardSize }),
    ...(lastShardSize !== undefined && { lastShardSize }),
    maxCacheSize: a.integer("max_cache_size", 1),
    cacheSizeStrictlyEnforced: a.boolean("cache_size_strictly_enforced", true),
    ...(obsColumnsToValidate !== undefined && { obsColumnsToValidate }),
  });
  log(
    `data: ${collection.nObs} cells x ${collection.nVars} genes in ${collection.filenames.length} shard(s)`,
  );
  return collection;
}

function loaderOptions(
  data: ResolvedMap,
  numReplicas: number,
  replicaRank: number,
): Omit<DataLoaderOptions, "startIdx" | "endIdx"> {
  const a = new ArgReader(data, "data");
  const batchKeys = data.batch_keys;
  if (!isMap(batchKeys as ConfigValue))
    throw new ConfigError("data.batch_keys is required (at least x_ng and var_names_g)");
  const prefetch = a.optional("prefetch_factor", a.integer);
  const options = {
    batchKeys: batchKeys as unknown as BatchKeysConfig,
    batchSize: a.integer("batch_size", 1),
    shuffle: a.boolean("shuffle", false),
    shuffleSeed: a.integer("shuffle_seed", 0),
    dropLastIndices: a.boolean("drop_last_indices", false),
    dropIncompleteBatch: a.boolean("drop_incomplete_batch", false),
    iterationStrategy: a.oneOf(
      "iteration_strategy",
      ["same_order", "cache_efficient"] as const,
      "cache_efficient",
    ),
    numWorkers: a.integer("num_workers", 0),
    ...(prefetch !== undefined && { prefetch }),
    numReplicas,
    replicaRank,
  };
  return options;
}

/** Cells [0, train) train and [train, train + val) validate; sizes are counts or fractions (upstream's train_size/val_size). */
function splits(data: ResolvedMap, nObs: number): { train: [number, number]; val: [number, number] | null } {
  const size = (key: string): number | null => {
    const value = data[key];
    if (value === undefined || value === null) return null;
    if (typeof value !== "number" || value < 0)
      throw new ConfigError(`data.${key}: expected a count or a fraction, got ${JSON.stringify(value)}`);
    return Number.isInteger(value) && value !== 1 ? value : Math.floor(value * nObs);
  };
  const val = size("val_size") ?? 0;
  const train = size("train_size") ?? nObs - val;
  if (train + val > nObs)
    throw new ConfigError(`data.train_size + data.val_size = ${train + val} exceeds the ${nObs} cells`);
  return { train: [0, train], val: val > 0 ? [train, train + val] : null };
}

async function buildTransforms(model: ResolvedMap): Promise<PipelineStep[]> {
  const steps: PipelineStep[] = [];
  for (const key of ["cpu_transforms", "transforms"] as const) {
    const list = model[key];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) throw new ConfigError(`model.${key} must be a list`);
    list.forEach((item, i) => {
      const where = `model.${key}.${i}`;
      if (typeof item === "function") steps.push(item as PipelineStep);
      else {
        const { classPath, initArgs } = classSpec(item, where);
        steps.push(createTransform(classPath, initArgs, where));
      }
    });
  }
  return steps;
}

/** The arguments the data determines, computed on the first cell after the transforms. */
async function derive(
  entry: ModelEntry,
  collection: DistributedAnnDataCollection,
  batchKeys: BatchKeysConfig,
  steps: readonly PipelineStep[],
  nObs: number,
): Promise<Record<string, unknown>> {
  const plan = planBatchKeys(batchKeys, collection.schema);
  const rows = await collection.readRows(Int32Array.of(0), plan.request);
  const probe = composeTransforms(steps)({ ...plan.constants, ...plan.cellValues(rows) } as Batch);
  const derived: Record<string, unknown> = {};
  for (const arg of entry.derived) {
    if (arg === "var_names_g") derived.var_names_g = probe.var_names_g;
    else if (arg === "n_obs") derived.n_obs = nObs;
    else {
      const categories: BatchValue | undefined = plan.constants.y_categories;
      if (!Array.isArray(categories)) {
        throw new ConfigError(
          `${entry.command} needs data.batch_keys.y_categories (e.g. {attr: obs, key: cell_type, convert_fn: get_categories})`,
        );
      }
      derived.y_categories = categories;
    }
  }
  return derived;
}

/** DDPStrategy init_args that change nothing here (PyTorch process-group and bucketing settings). */
const DDP_ARGS = [
  "broadcast_buffers",
  "find_unused_parameters",
  "static_graph",
  "gradient_as_bucket_view",
  "process_group_backend",
  "timeout",
  "start_method",
];

/**
 * trainer.devices as a replica count: an integer, its string, "auto" (1), or -1 (one per CPU,
 * Lightning's "all devices"). trainer.strategy: "auto", "ddp" (and Lightning's ddp variants), or
 * {class_path: lightning.pytorch.strategies.DDPStrategy, init_args}: replicas here are always
 * DDP-like (gradients averaged every step, streaming states merged at epoch end).
 */
function devicesOf(trainer: ResolvedMap): number {
  const devices = trainer.devices;
  const count =
    devices === undefined || devices === null || devices === "auto"
      ? 1
      : typeof devices === "string" && /^-?\d+$/.test(devices)
        ? Number(devices)
        : devices;
  if (count === -1) return availableParallelism();
  if (typeof count !== "number" || !Number.isSafeInteger(count) || count < 1) {
    throw new ConfigError(
      `trainer.devices: expected a replica count >= 1, "auto" or -1, got ${JSON.stringify(devices)}`,
    );
  }
  const strategy = trainer.strategy;
  if (typeof strategy === "string") {
    if (
      !["auto", "ddp", "ddp_spawn", "ddp_fork", "ddp_notebook", "ddp_find_unused_parameters_true"].includes(
        strategy,
      )
    )
      throw new ConfigError(
        `trainer.strategy: "${strategy}" is not supported (auto, ddp or DDPStrategy are)`,
      );
  } else if (strategy !== undefined && strategy !== null) {
    const { classPath, initArgs } = classSpec(strategy, "trainer.strategy");
    if (classNameOf(classPath) !== "DDPStrategy")
      throw new ConfigError(
        `trainer.strategy: "${classPath}" is not supported (auto, ddp or DDPStrategy are)`,
      );
    new ArgReader(initArgs, "trainer.strategy.init_args").done(DDP_ARGS);
  }
  return count;
}

function trainerOptions(
  trainer: ResolvedMap,
  config: ConfigMap,
): { options: TrainerOptions; writer: PredictionWriterOptions | null } {
  const a = new ArgReader(trainer, "trainer");
  let checkpointing: false | CheckpointOptions = {};
  let writer: PredictionWriterOptions | null = null;
  const callbacks = trainer.callbacks;
  for (const [i, callback] of (Array.isArray(callbacks)
    ? callbacks
    : callbacks
      ? [callbacks]
      : []
  ).entries()) {
    const where = `trainer.callbacks.${i}`;
    const { classPath, initArgs } = classSpec(callback, where);
    const c = new ArgReader(initArgs, `${where}.init_args`);
    const name = classNameOf(classPath);
    if (name === "ModelCheckpoint") {
      const everyNTrainSteps = c.optional("every_n_train_steps", c.integer);
      const everyNEpochs = c.optional("every_n_epochs", c.integer);
      checkpointing = {
        ...(everyNTrainSteps !== undefined && { everyNTrainSteps }),
        ...(everyNEpochs !== undefined && { everyNEpochs }),
        saveTopK: c.integer("save_top_k", 1),
        saveLast: c.boolean("save_last", false),
      };
      c.done([
        "dirpath",
        "filename",
        "monitor",
        "mode",
        "verbose",
        "auto_insert_metric_name",
        "save_weights_only",
        "save_on_train_epoch_end",
        "train_time_interval",
        "enable_version_counter",
      ]);
    } else if (name === "PredictionWriter") {
      writer = {
        outputDir: c.string("output_dir"),
        outputDirKey: `${where}.init_args.output_dir`,
        key: c.string("key", "x_ng"),
        predictionSize: c.optional("prediction_size", c.integer) ?? null,
        gzip: c.boolean("gzip", true),
        fieldNames: c.optional("field_names", c.strings) ?? [],
        format: c.oneOf("format", ["csv", "h5ad"] as const, "csv"),
      };
      c.done(["max_threadpool_workers"]);
    } else if (name !== "LearningRateMonitor") {
      throw new ConfigError(
        `${where}: callback "${classPath}" is not supported (ModelCheckpoint, PredictionWriter, LearningRateMonitor are)`,
      );
    }
  }
  if (trainer.enable_checkpointing === false) checkpointing = false;
  const number = (key: string) => a.optional(key, a.number);
  const maxEpochs = number("max_epochs");
  const maxSteps = number("max_steps");
  const limitTrainBatches = number("limit_train_batches");
  const limitValBatches = number("limit_val_batches");
  const limitPredictBatches = number("limit_predict_batches");
  const logEveryNSteps = number("log_every_n_steps");
  const accumulateGradBatches = number("accumulate_grad_batches");
  const options: TrainerOptions = {
    ...(maxEpochs !== undefined && { maxEpochs }),
    ...(maxSteps !== undefined && { maxSteps }),
    ...(limitTrainBatches !== undefined && { limitTrainBatches }),
    ...(limitValBatches !== undefined && { limitValBatches }),
    ...(limitPredictBatches !== undefined && { limitPredictBatches }),
    ...(logEveryNSteps !== undefined && { logEveryNSteps }),
    ...(accumulateGradBatches !== undefined && { accumulateGradBatches }),
    gradientClipVal: number("gradient_clip_val") ?? null,
    gradientClipAlgorithm: a.oneOf("gradient_clip_algorithm", ["norm", "value"] as const, "norm"),
    defaultRootDir: a.string("default_root_dir", process.cwd()),
    checkpointing,
    enableProgressBar: a.boolean("enable_progress_bar", true),
    config: JSON.parse(JSON.stringify(config, (_, v) => (typeof v === "function" ? "<frozen pipeline>" : v))),
  };
  return { options, writer };
}

/**
 * seed_everything as Lightning reads it: an integer, or true / absent for a seed drawn at random;
 * the seed used is written into the config that checkpoints store, so a run can be repeated.
 */
function seedOf(value: ConfigValue | undefined): number {
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= 0) return value;
  if (value === true || value === false || value === null || value === undefined) return randomInt(2 ** 31);
  throw new ConfigError(
    `seed_everything: expected true, false or a non-negative integer, got ${JSON.stringify(value)}`,
  );
}

/**
 * The sampler pads (or, with drop_last_indices, cuts) the cells to a multiple of the replicas,
 * as Lightning's DistributedSampler does, so results then differ from a single run's: say so.
 */
function warnUnevenSplit(
  config: ConfigMap,
  cells: number,
  replicas: number,
  log: (line: string) => void,
): void {
  const rest = cells % replicas;
  if (replicas === 1 || rest === 0) return;
  const split = `${cells} cells do not split evenly across ${replicas} replicas`;
  log(
    section(config, "data").drop_last_indices === true
      ? `warning: ${split}; the last ${rest} are dropped (data.drop_last_indices)`
      : `warning: ${split}; ${replicas - rest} cells are read twice to pad the parts (as Lightning's DistributedSampler does; data.drop_last_indices: true drops ${rest} instead)`,
  );
}

/** Everything a command runs on, built from the config for one replica. */
export interface PreparedRun {
  readonly collection: DistributedAnnDataCollection;
  readonly module: CellariumModule;
  readonly model: CellariumModel;
  readonly options: TrainerOptions;
  readonly writer: PredictionWriterOptions | null;
  readonly devices: number;
  readonly train: [number, number];
  readonly val: [number, number] | null;
  readonly ckptPath: string | undefined;
  loader(range: [number, number]): DataLoader;
  /** Ends the loaders' worker threads and closes the collection. */
  close(): Promise<void>;
}

/**
 * Opens the data and builds the module and trainer options of `config`, the loaders reading the
 * part `replica` of the cells. The caller closes the run (PreparedRun.close).
 */
export async function prepareRun(
  entry: ModelEntry,
  config: ConfigMap,
  replica: { readonly numReplicas: number; readonly replicaRank: number },
  log: (line: string) => void,
): Promise<PreparedRun> {
  const seed = seedOf(config.seed_everything);

  const data = section(config, "data");
  const collection = await openData(data, log);
  const loaders: DataLoader[] = [];
  try {
    const model = (await resolveLoaders(config.model ?? {}, "model")) as ResolvedMap;
    const steps = await buildTransforms(model);
    const ckptPath = typeof config.ckpt_path === "string" ? config.ckpt_path : undefined;
    const base = loaderOptions(data, replica.numReplicas, replica.replicaRank);
    const { train, val } = splits(data, collection.nObs);
    const modelSpec = classSpec(model.model ?? entry.className, "model.model");
    if (classNameOf(modelSpec.classPath) !== entry.className) {
      throw new ConfigError(
        `model.model.class_path: "${modelSpec.classPath}" does not match the command ${entry.command} (${entry.className})`,
      );
    }
    const derived = await derive(entry, collection, base.batchKeys, steps, train[1] - train[0]);
    const initArgs = { ...derived, ...modelSpec.initArgs };
    const built: CellariumModel = createModel(entry, initArgs, "model.model.init_args", { seed });
    const module = new CellariumModule({
      transforms: steps,
      model: built,
      ...(typeof model.optim_fn === "string" && {
        optimizer: { name: model.optim_fn, kwargs: (model.optim_kwargs ?? {}) as Kwargs },
      }),
      ...(typeof model.scheduler_fn === "string" && {
        scheduler: { name: model.scheduler_fn, kwargs: (model.scheduler_kwargs ?? {}) as Kwargs },
      }),
    });
    const trainer = section(config, "trainer");
    const devices = devicesOf(trainer);
    const { options, writer } = trainerOptions(trainer, config);
    return {
      collection,
      module,
      model: built,
      options: { ...options, numReplicas: replica.numReplicas, replicaRank: replica.replicaRank },
      writer,
      devices,
      train,
      val,
      ckptPath,
      loader: (range) => {
        const loader = new DataLoader(collection, { ...base, startIdx: range[0], endIdx: range[1] });
        loaders.push(loader);
        return loader;
      },
      close: async () => {
        await Promise.all(loaders.map((loader) => loader.close()));
        collection.close();
      },
    };
  } catch (error) {
    collection.close();
    throw error;
  }
}

/** The file a model writes at the end of fit (OnePassMeanVarStd's output_path), or null. */
function outputPathOf(model: CellariumModel): string | null {
  const output = (model as { output_path?: string | null }).output_path;
  return typeof output === "string" ? output : null;
}

/**
 * Checks, before the first batch, every directory the command will write into: each exists or is
 * created, is a directory and takes a new file, and loses the temporary files of killed runs
 * (prepareOutputDirectory). A failure names the directory and the config key that chose it.
 */
async function prepareOutputs(
  stage: Stage,
  prepared: PreparedRun,
  partial: { readonly path: string; readonly key: string } | undefined,
): Promise<void> {
  const outputs: [dir: string, key: string][] = [];
  if (stage === "fit") {
    outputs.push([prepared.options.defaultRootDir ?? process.cwd(), "trainer.default_root_dir"]);
    const output = outputPathOf(prepared.model);
    // A part of a partial run leaves the model's outputs to `cellarium merge`.
    if (partial !== undefined) outputs.push([dirname(partial.path), partial.key]);
    else if (output !== null) outputs.push([dirname(output), "model.model.init_args.output_path"]);
  } else if (stage === "predict" && prepared.writer) {
    outputs.push([prepared.writer.outputDir, prepared.writer.outputDirKey ?? "output_dir"]);
  }
  for (const [dir, key] of outputs) await prepareOutputDirectory(dir, key);
}

/** Runs one model command; returns a summary line per output. */
export async function runModelCommand(entry: ModelEntry, stage: Stage, run: RunOptions): Promise<void> {
  const log = run.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const config = await readConfig(run.configs, run.overrides);
  if (run.printConfig) {
    process.stdout.write(dumpConfig(config));
    return;
  }
  const env = run.env ?? process.env;
  if (entry.blasThreads !== undefined && env["OPENBLAS_NUM_THREADS"] === undefined) {
    kernels().setNumThreads(entry.blasThreads);
  }
  // Drawn once here, so that every replica thread (which re-reads the config) uses the same seed.
  config.seed_everything = seedOf(config.seed_everything);
  const replica = stage === "fit" ? resolveReplica(run.replica ?? {}, env) : null;
  const prepared = await prepareRun(
    entry,
    config,
    { numReplicas: replica?.numReplicas ?? 1, replicaRank: replica?.rank ?? 0 },
    log,
  );
  const { collection, module, model: built, writer, train, val, ckptPath } = prepared;
  try {
    // A partial run's checkpoint: --partial_path, else a file in default_root_dir.
    const partial = replica && {
      path: partialPath(run.partialPath, prepared.options.defaultRootDir ?? process.cwd(), replica),
      key: run.partialPath !== undefined ? "--partial_path" : "trainer.default_root_dir",
    };
    await prepareOutputs(stage, prepared, partial ?? undefined);
    const trainer = new Trainer(prepared.options);
    const loader = prepared.loader;
    if (stage === "fit") {
      const replicas = replica?.numReplicas ?? prepared.devices;
      warnUnevenSplit(config, train[1] - train[0], replicas, log);
      const pca: IncrementalPCA | null =
        (built as object) instanceof IncrementalPCA ? (built as IncrementalPCA) : null;
      if (pca?.algorithm === "lowrank" && replicas > 1) {
        // Each replica keeps its own top n_components directions and the merge cannot recover
        // what they dropped (bench/RESULTS.md, "IncrementalPCA with trainer.devices 1, 2, 4").
        log(
          `warning: IncrementalPCA over ${pca.var_names_g.length} genes keeps a rank-${pca.n_components} summary per replica; with ${replicas} replicas the components can differ from one replica's by degrees where the spectrum is flat (algorithm: scatter is exact, at ${Math.ceil((8 * pca.var_names_g.length ** 2) / 2 ** 20)} MiB per replica)`,
        );
      }
      if (prepared.devices > 1 && replica) {
        throw new ConfigError(
          `trainer.devices: ${prepared.devices} with a partial run (part ${replica.rank} of ${replica.numReplicas}) is not supported; use devices: 1 per process`,
        );
      }
      let result: FitResult;
      if (replica) {
        if (!built.merge) {
          throw new ConfigError(
            `partial runs (part ${replica.rank} of ${replica.numReplicas}, from ${replica.source}) need a model with a merge; ${built.className} has none (use trainer.devices on one machine)`,
          );
        }
        const path = partial!.path;
        log(`partial run: part ${replica.rank} of ${replica.numReplicas} (from ${replica.source})`);
        const fingerprint = configFingerprint(prepared.options.config ?? null);
        result = await new Trainer({ ...prepared.options, partial: { fingerprint, path } }).fit(
          module,
          loader(train),
          ckptPath ? { ckptPath } : {},
        );
        log(`partial checkpoint: ${path}`);
      } else if (prepared.devices > 1) {
        log(`replicas: ${prepared.devices} worker threads`);
        const replicated = await fitReplicas({
          numReplicas: prepared.devices,
          factoryModule: new URL(
            `./replica-factory${extname(fileURLToPath(import.meta.url))}`,
            import.meta.url,
          ).href,
          factoryArgs: {
            command: entry.command,
            configs: [...run.configs],
            overrides: [...run.overrides, ["seed_everything", config.seed_everything]].map(([key, value]) => [
              key,
              value,
            ]) as JsonValue,
          },
        });
        // Rank 0's trained state, for the validation below.
        built.loadStateDict(replicated.modelState);
        result = replicated;
      } else {
        result = await trainer.fit(module, loader(train), ckptPath ? { ckptPath } : {});
      }
      log(
        `fit: ${result.cells} cells in ${result.seconds.toFixed(1)} s (${Math.round(result.cells / result.seconds)} cells/s), global step ${result.position.globalStep}`,
      );
      log(`run directory: ${result.runDir}`);
      for (const path of result.checkpoints) log(`checkpoint: ${path}`);
      const output = outputPathOf(built);
      if (output !== null && !replica) log(`output: ${output}`);
      if (val && built.validate && !replica) {
        const { loss } = await trainer.validate(module, loader(val));
        log(`validation loss: ${loss}`);
      }
      return;
    }
    if (ckptPath) {
      const trained = await loadPipeline(ckptPath);
      built.loadStateDict(trained.checkpoint.modelState);
    } else {
      log(`warning: no ckpt_path given: ${stage} uses the untrained model`);
    }
    if (stage === "validate") {
      const { loss, cells } = await trainer.validate(module, loader(val ?? train));
      log(`validate: loss ${loss} over ${cells} cells`);
      return;
    }
    if (!writer) {
      throw new ConfigError(
        "predict needs an output: add a callback {class_path: cellarium.ml.callbacks.PredictionWriter, init_args: {output_dir: ...}} to trainer.callbacks",
      );
    }
    const out = new PredictionWriter(writer);
    try {
      const { cells, seconds } = await trainer.predict(
        module,
        loader([0, collection.nObs]),
        (batch, output) => out.write(batch, output),
        entry.predictOptions?.(writer.key ?? "x_ng"),
      );
      const path = await out.close();
      log(`predict: ${cells} cells in ${seconds.toFixed(1)} s; predictions: ${path}`);
    } catch (error) {
      await out.abort();
      throw error;
    }
  } finally {
    await prepared.close();
  }
}
