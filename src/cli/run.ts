// `cellarium <model> fit|validate|predict`: reads the LightningCLI-layout config, evaluates its
// loader tags, builds the collection, loaders, transforms, model and trainer, fills in the
// arguments derived from the data (var_names_g after the transforms, n_obs, y_categories), and runs.

import { readFile } from "node:fs/promises";
import type { Batch, BatchValue } from "../data/batch.js";
import { type BatchKeysConfig, planBatchKeys } from "../data/batch-keys.js";
import { DistributedAnnDataCollection } from "../data/collection.js";
import { DataLoader, type DataLoaderOptions } from "../data/loader.js";
import { ConfigError } from "../errors.js";
import type { CellariumModel } from "../models/model.js";
import type { Kwargs } from "../optim/registry.js";
import { CellariumModule } from "../train/module.js";
import { PredictionWriter, type PredictionWriterOptions } from "../train/prediction-writer.js";
import { type CheckpointOptions, Trainer, type TrainerOptions } from "../train/trainer.js";
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
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      throw new ConfigError(
        `--config ${path}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
      );
    }
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
  const optionalInt = (key: string) =>
    initArgs[key] === null || initArgs[key] === undefined ? undefined : a.integer(key);
  const collection = await DistributedAnnDataCollection.open({
    filenames: typeof filenames === "string" ? filenames : a.strings("filenames"),
    ...(initArgs.limits !== null && initArgs.limits !== undefined && { limits: initArgs.limits as number[] }),
    ...(optionalInt("shard_size") !== undefined && { shardSize: optionalInt("shard_size")! }),
    ...(optionalInt("last_shard_size") !== undefined && { lastShardSize: optionalInt("last_shard_size")! }),
    maxCacheSize: a.integer("max_cache_size", 1),
    cacheSizeStrictlyEnforced: a.boolean("cache_size_strictly_enforced", true),
    ...(initArgs.obs_columns_to_validate !== null &&
      initArgs.obs_columns_to_validate !== undefined && {
        obsColumnsToValidate: a.strings("obs_columns_to_validate"),
      }),
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
    ...(data.prefetch_factor !== null &&
      data.prefetch_factor !== undefined && { prefetch: a.integer("prefetch_factor") }),
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

function trainerOptions(
  trainer: ResolvedMap,
  config: ConfigMap,
): { options: TrainerOptions; writer: PredictionWriterOptions | null } {
  const a = new ArgReader(trainer, "trainer");
  const devices = trainer.devices;
  if (devices !== undefined && devices !== null && devices !== 1 && devices !== "auto" && devices !== "1") {
    throw new ConfigError(
      `trainer.devices: ${JSON.stringify(devices)} — data-parallel replicas are not available yet in cellarium-ts; use devices: 1`,
    );
  }
  const strategy = trainer.strategy;
  if (
    strategy !== undefined &&
    strategy !== null &&
    strategy !== "auto" &&
    !(typeof strategy === "object" || strategy === "ddp")
  ) {
    throw new ConfigError(`trainer.strategy: ${JSON.stringify(strategy)} is not supported`);
  }
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
      const optional = (key: string) =>
        initArgs[key] === null || initArgs[key] === undefined ? undefined : c.integer(key);
      checkpointing = {
        ...(optional("every_n_train_steps") !== undefined && {
          everyNTrainSteps: optional("every_n_train_steps")!,
        }),
        ...(optional("every_n_epochs") !== undefined && { everyNEpochs: optional("every_n_epochs")! }),
        saveTopK: c.integer("save_top_k", 1),
        saveLast: initArgs.save_last === null ? false : c.boolean("save_last", false),
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
        key: c.string("key", "x_ng"),
        predictionSize:
          initArgs.prediction_size === null || initArgs.prediction_size === undefined
            ? null
            : c.integer("prediction_size"),
        gzip: c.boolean("gzip", true),
        fieldNames:
          initArgs.field_names === null || initArgs.field_names === undefined ? [] : c.strings("field_names"),
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
  const optionalNumber = (key: string) =>
    trainer[key] === null || trainer[key] === undefined ? undefined : a.number(key);
  const options: TrainerOptions = {
    ...(optionalNumber("max_epochs") !== undefined && { maxEpochs: optionalNumber("max_epochs")! }),
    ...(optionalNumber("max_steps") !== undefined && { maxSteps: optionalNumber("max_steps")! }),
    ...(optionalNumber("limit_train_batches") !== undefined && {
      limitTrainBatches: optionalNumber("limit_train_batches")!,
    }),
    ...(optionalNumber("limit_val_batches") !== undefined && {
      limitValBatches: optionalNumber("limit_val_batches")!,
    }),
    ...(optionalNumber("limit_predict_batches") !== undefined && {
      limitPredictBatches: optionalNumber("limit_predict_batches")!,
    }),
    ...(optionalNumber("log_every_n_steps") !== undefined && {
      logEveryNSteps: optionalNumber("log_every_n_steps")!,
    }),
    ...(optionalNumber("accumulate_grad_batches") !== undefined && {
      accumulateGradBatches: optionalNumber("accumulate_grad_batches")!,
    }),
    gradientClipVal: optionalNumber("gradient_clip_val") ?? null,
    gradientClipAlgorithm:
      trainer.gradient_clip_algorithm === null || trainer.gradient_clip_algorithm === undefined
        ? "norm"
        : a.oneOf("gradient_clip_algorithm", ["norm", "value"] as const),
    defaultRootDir:
      trainer.default_root_dir === null || trainer.default_root_dir === undefined
        ? process.cwd()
        : a.string("default_root_dir"),
    checkpointing,
    enableProgressBar:
      trainer.enable_progress_bar === null || trainer.enable_progress_bar === undefined
        ? true
        : a.boolean("enable_progress_bar"),
    config: JSON.parse(JSON.stringify(config, (_, v) => (typeof v === "function" ? "<frozen pipeline>" : v))),
  };
  return { options, writer };
}

/** Runs one model command; returns a summary line per output. */
export async function runModelCommand(entry: ModelEntry, stage: Stage, run: RunOptions): Promise<void> {
  const log = run.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const config = await readConfig(run.configs, run.overrides);
  if (run.printConfig) {
    process.stdout.write(dumpConfig(config));
    return;
  }
  const seed = config.seed_everything;
  if (seed !== undefined && seed !== null && seed !== false && seed !== true && typeof seed !== "number") {
    throw new ConfigError(`seed_everything: expected true, false or an integer, got ${JSON.stringify(seed)}`);
  }
  // Accepted for upstream configs; the models so far draw no random numbers in training (their
  // seeds, where they have any, are init_args).

  const data = section(config, "data");
  const collection = await openData(data, log);
  try {
    const model = (await resolveLoaders(config.model ?? {}, "model")) as ResolvedMap;
    const steps = await buildTransforms(model);
    const ckptPath = typeof config.ckpt_path === "string" ? config.ckpt_path : undefined;
    const base = loaderOptions(data, 1, 0);
    const { train, val } = splits(data, collection.nObs);
    const modelSpec = classSpec(model.model ?? entry.className, "model.model");
    if (classNameOf(modelSpec.classPath) !== entry.className) {
      throw new ConfigError(
        `model.model.class_path: "${modelSpec.classPath}" does not match the command ${entry.command} (${entry.className})`,
      );
    }
    const derived = await derive(entry, collection, base.batchKeys, steps, train[1] - train[0]);
    const initArgs = { ...derived, ...modelSpec.initArgs };
    const built: CellariumModel = createModel(entry, initArgs, "model.model.init_args");
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
    const { options, writer } = trainerOptions(section(config, "trainer"), config);
    const trainer = new Trainer(options);
    const loader = (range: [number, number]) =>
      new DataLoader(collection, { ...base, startIdx: range[0], endIdx: range[1] });

    if (stage === "fit") {
      const result = await trainer.fit(module, loader(train), ckptPath ? { ckptPath } : {});
      log(
        `fit: ${result.cells} cells in ${result.seconds.toFixed(1)} s (${Math.round(result.cells / result.seconds)} cells/s), global step ${result.position.globalStep}`,
      );
      log(`run directory: ${result.runDir}`);
      for (const path of result.checkpoints) log(`checkpoint: ${path}`);
      const output = (built as { output_path?: string | null }).output_path;
      if (typeof output === "string") log(`output: ${output}`);
      if (val && built.validate) {
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
    collection.close();
  }
}
