// `cellarium <model> fit|validate|predict`, the runner: reads the config files, has the parse
// step (spec/run-spec.ts) turn them into a RunSpec, then opens the data, fills in the arguments
// derived from it (var_names_g after the transforms, n_obs, y_categories), builds the module and
// runs the stage. No config key is interpreted here.

import { randomInt } from "node:crypto";
import { availableParallelism } from "node:os";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { prepareOutputDirectory, writeFileAtomic } from "../data/atomic-file.js";
import type { Batch, BatchValue } from "../data/batch.js";
import { planBatchKeys } from "../data/batch-keys.js";
import { DistributedAnnDataCollection } from "../data/collection.js";
import { DataLoader } from "../data/loader.js";
import {
  type OpenedInWorker,
  openInReadAheadWorker,
  prestartReadAheadWorkers,
} from "../data/prestarted-workers.js";
import { readRegularFile } from "../data/regular-file.js";
import { ConfigError } from "../errors.js";
import type { DataFrameColumn } from "../formats/h5ad/dataframe.js";
import { anndataLayout } from "../io/anndata-layout.js";
import { collectionObs } from "../io/anndata-predictions.js";
import {
  type PredictionContext,
  PredictionWriter,
  type PredictionWriterOptions,
  predictionFormat,
  predictionPath,
} from "../io/prediction-writer.js";
import type { JsonValue } from "../json.js";
import type { VarColumn, VarColumns } from "../models/hvg/hvg-csv.js";
import type { IncrementalPCA } from "../models/incremental-pca.js";
import type { CellariumModel } from "../models/model.js";
import { CONFUSION_CSV, ConfusionCounter, confusionCsv } from "../report/confusion.js";
import { kernels } from "../tensor/kernels/index.js";
import type { Tensor } from "../tensor/tensor.js";
import { CellariumModule } from "../train/cellarium-module.js";
import { loadCheckpoint } from "../train/checkpoint.js";
import { fitReplicas } from "../train/fit-replicas.js";
import { launchedWorld, type MpiWorld, startMpi } from "../train/mpi.js";
import { MpiReplicaGroup } from "../train/mpi-group.js";
import { configFingerprint, type Env, partialPath, resolveReplica } from "../train/partial.js";
import { type FitResult, Trainer, type TrainerOptions } from "../train/trainer.js";
import { composeTransforms, type PipelineStep } from "../transforms/compose.js";
import { loadPipeline } from "./checkpoint-pipeline.js";
import { setDotted } from "./overrides.js";
import { createModel, loadModel, type ModelEntry, modelFactory, type Stage } from "./registry.js";
import type { ReportOptions } from "./report.js";
import { loaderOptions, predictCells, splits } from "./spec/data.js";
import { defaultConfig, parseRunSpec, type RunSpec } from "./spec/run-spec.js";
import {
  type ConfigMap,
  type ConfigValue,
  configFromJson,
  dumpConfig,
  isMap,
  parseConfigYaml,
} from "./yaml.js";

export interface RunOptions {
  /** Config files, merged in order (later files win); none for --print_config's default config. */
  readonly configs: readonly string[];
  /** A config given as data (upstream's main({model_name, subcommand, fit: {...}})), under the files. */
  readonly config?: ConfigMap;
  readonly overrides: ReadonlyArray<readonly [string, ConfigValue]>;
  readonly printConfig?: boolean;
  readonly log?: (line: string) => void;
  /** fit: --replica_rank / --num_replicas (a partial run); the environment fills in what they leave out. */
  readonly replica?: { readonly replicaRank?: number; readonly numReplicas?: number };
  /** fit of a partial run: --partial_path, `{rank}` replaced by the rank. */
  readonly partialPath?: string;
  /** Default process.env. */
  readonly env?: Env;
  /**
   * fit: write report.html and its PNGs into the run directory at the end (`cellarium report`);
   * predict with an .h5ad/.zarr output: a report of that file beside it (`<name>_report/`).
   * Default on, off with --no_report or CELLARIUM_REPORT=0.
   */
  readonly report?: boolean;
  /** predict: the obs column colouring the report's embedding scatter (--report_color). */
  readonly reportColor?: string;
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
  base: ConfigMap = {},
): Promise<ConfigMap> {
  let config: ConfigMap = structuredClone(base);
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
  return config;
}

/**
 * The sampler pads (or, with drop_last_indices, cuts) the cells to a multiple of the replicas,
 * as Lightning's DistributedSampler does, so results then differ from a single run's: say so.
 */
function warnUnevenSplit(spec: RunSpec, cells: number, replicas: number, log: (line: string) => void): void {
  const rest = cells % replicas;
  if (replicas === 1 || rest === 0) return;
  const split = `${cells} cells do not split evenly across ${replicas} replicas`;
  log(
    spec.data.drop_last_indices
      ? `warning: ${split}; the last ${rest} are dropped (data.drop_last_indices)`
      : `warning: ${split}; ${replicas - rest} cells are read twice to pad the parts (as Lightning's DistributedSampler does; data.drop_last_indices: true drops ${rest} instead)`,
  );
}

/** Everything a command runs on, built from the spec for one replica. */
export interface PreparedRun {
  readonly collection: DistributedAnnDataCollection;
  readonly module: CellariumModule;
  readonly model: CellariumModel;
  readonly options: TrainerOptions;
  readonly train: [number, number];
  readonly val: [number, number] | null;
  /** A loader over `range` for this replica; `whole`: every cell of it, for one reader (rank 0's validation). */
  loader(range: [number, number], whole?: boolean): DataLoader;
  /** Ends the loaders' worker threads and closes the collection. */
  close(): Promise<void>;
}

/**
 * The arguments the data determines, computed on the first cell after the transforms (read here,
 * or by the read-ahead worker that opened the collection).
 */
async function derive(
  spec: RunSpec,
  collection: DistributedAnnDataCollection,
  steps: readonly PipelineStep[],
  nObs: number,
  opened: OpenedInWorker | undefined,
): Promise<Record<string, unknown>> {
  const entry = spec.entry;
  const plan = planBatchKeys(spec.data.batch_keys, collection.schema);
  const rows = opened?.firstCell ?? (await collection.readRows(Int32Array.of(0), plan.request));
  const probe = composeTransforms(steps)({ ...plan.constants, ...plan.cellValues(rows) } as Batch);
  const derived: Record<string, unknown> = {};
  for (const arg of entry.derived) {
    if (arg === "var_names_g") derived.var_names_g = probe.var_names_g;
    else if (arg === "n_obs") derived.n_obs = nObs;
    else if (arg === "n_batch") derived.n_batch = batchCategories(spec, collection);
    else if (arg === "var_columns")
      derived.var_columns = varColumnsOf(opened?.varColumns ?? (await collection.varColumns()));
    else if (arg === "n_cats_per_cov") derived.n_cats_per_cov = covariateCategories(spec, collection);
    else if (arg === "cell_type_categories")
      derived.cell_type_categories = cellTypeCategories(spec, collection);
    else {
      const categories: BatchValue | undefined = plan.constants.y_categories;
      if (!Array.isArray(categories)) {
        throw new ConfigError(
          `${entry.command} needs data.batch_keys.y_categories (e.g. {attr: obs, key: cell_type, convert_fn: get_categories})`,
          { key: "data.batch_keys.y_categories" },
        );
      }
      derived.y_categories = categories;
    }
  }
  return derived;
}

/**
 * Upstream's compute_batch_index_n_categories: the categories of the obs column batch_index_n
 * reads, or 1 without that key (every cell in one batch).
 */
function batchCategories(spec: RunSpec, collection: DistributedAnnDataCollection): number {
  const field = spec.data.batch_keys.batch_index_n;
  if (field === undefined) return 1;
  const info = collection.schema.obsColumns.find((c) => c.name === field.key);
  if (field.attr !== "obs" || info?.categories === undefined) {
    throw new ConfigError(
      `data.batch_keys.batch_index_n must read a categorical obs column (attr: obs, key: <column>, convert_fn: categories_to_codes), got attr ${field.attr}, key ${field.key ?? "none"}`,
      { key: "data.batch_keys.batch_index_n" },
    );
  }
  return info.categories.length;
}

/** A batch key's obs column when it names one (not a list of them). */
function singleKey(key: string | readonly string[] | null | undefined): string | null {
  return typeof key === "string" ? key : null;
}

/** The categories of the categorical obs columns a batch key reads (one key or a list of them). */
function obsCategories(spec: RunSpec, collection: DistributedAnnDataCollection, name: string): number[] {
  const field = spec.data.batch_keys[name]!;
  const keys = field.key === undefined || field.key === null ? [] : [field.key].flat();
  return keys.map((key) => {
    const info = collection.schema.obsColumns.find((c) => c.name === key);
    if (field.attr !== "obs" || info?.categories === undefined) {
      throw new ConfigError(
        `data.batch_keys.${name} must read categorical obs columns (attr: obs, key: <column or list>, convert_fn: categories_to_codes), got attr ${field.attr}, key ${JSON.stringify(key)}`,
        { key: `data.batch_keys.${name}` },
      );
    }
    return info.categories.length;
  });
}

/** Upstream's compute_n_cats_per_cov: the categories of each categorical_covariate_index_nd column ([] without it). */
function covariateCategories(spec: RunSpec, collection: DistributedAnnDataCollection): number[] {
  if (spec.data.batch_keys.categorical_covariate_index_nd === undefined) return [];
  return obsCategories(spec, collection, "categorical_covariate_index_nd");
}

/** Upstream's compute_cell_type_categories: validation_cell_type_index_n's categories, or null without it. */
function cellTypeCategories(spec: RunSpec, collection: DistributedAnnDataCollection): string[] | null {
  const field = spec.data.batch_keys.validation_cell_type_index_n;
  if (field === undefined) return null;
  obsCategories(spec, collection, "validation_cell_type_index_n");
  const info = collection.schema.obsColumns.find((c) => c.name === field.key)!;
  return info.categories!.map(String);
}

/** A var dataframe's columns as HVGSeuratV3 appends them to its CSVs (labels for categoricals). */
function varColumnsOf(columns: Map<string, DataFrameColumn>): VarColumns {
  const out: Record<string, VarColumn> = {};
  for (const [name, column] of columns) {
    const masked = (values: ArrayLike<number>, mask: Uint8Array, bool: boolean) =>
      Array.from(values, (v, i) => (mask[i] ? null : bool ? v !== 0 : v));
    switch (column.kind) {
      case "categorical":
        out[name] = {
          dtype: typeof column.categories[0] === "number" ? "float" : "str",
          values: Array.from(column.codes, (code) => (code < 0 ? null : column.categories[code]!)),
        };
        break;
      case "string":
        out[name] = { dtype: "str", values: column.values };
        break;
      case "numeric":
        out[name] = { dtype: /int/.test(column.dtype) ? "int" : "float", values: Array.from(column.values) };
        break;
      case "boolean":
        out[name] = { dtype: "bool", values: Array.from(column.values, (v) => v !== 0) };
        break;
      case "nullable-integer":
        out[name] = { dtype: "int", values: masked(column.values, column.mask, false) };
        break;
      case "nullable-boolean":
        out[name] = { dtype: "bool", values: masked(column.values, column.mask, true) };
        break;
    }
  }
  return out;
}

/**
 * Opens the data and builds the module and trainer options of `spec`, the loaders reading the
 * part `replica` of the cells. A predict or validate whose config names no model takes the model
 * and (unless the config has its own) the transforms from ckpt_path. The caller closes the run.
 */
export async function prepareRun(
  spec: RunSpec,
  replica: { readonly numReplicas: number; readonly replicaRank: number },
  log: (line: string) => void,
): Promise<PreparedRun> {
  // A read-ahead worker started ahead opens the data when there is one: this thread then reads
  // no file before the fit, nor loads h5wasm. It loads the model's module meanwhile.
  const [opened] = await Promise.all([
    openInReadAheadWorker({
      collection: spec.collection,
      batchKeys: spec.data.batch_keys,
      varColumns: (spec.entry.derived as readonly string[]).includes("var_columns"),
    }),
    loadModel(spec.entry),
  ]);
  const collection =
    opened === undefined
      ? await DistributedAnnDataCollection.open(spec.collection)
      : DistributedAnnDataCollection.reopen(opened.init);
  log(
    `data: ${collection.nObs} cells x ${collection.nVars} genes in ${collection.filenames.length} shard(s)`,
  );
  const loaders: DataLoader[] = [];
  try {
    const base = loaderOptions(spec.data, replica.numReplicas, replica.replicaRank);
    const { train, val } = splits(spec.data, collection.nObs);
    let steps = spec.transforms;
    let built: CellariumModel;
    if (!spec.model.given && spec.stage !== "fit" && spec.ckptPath !== null) {
      const trained = await loadPipeline(spec.ckptPath);
      if (trained.model.className !== spec.entry.className)
        throw new ConfigError(
          `ckpt_path ${spec.ckptPath}: a ${trained.model.className} checkpoint, not ${spec.entry.className} (${spec.entry.command})`,
          { key: "ckpt_path", file: spec.ckptPath },
        );
      if (steps.length === 0) steps = trained.transforms;
      built = trained.model;
    } else {
      const derived = await derive(spec, collection, steps, train[1] - train[0], opened);
      // A derived argument given as null (upstream's printed configs show n_batch: null) is derived.
      const given = Object.entries(spec.model.initArgs).filter(
        ([name, value]) => !(value === null && (spec.entry.derived as readonly string[]).includes(name)),
      );
      built = createModel(spec.entry, { ...derived, ...Object.fromEntries(given) }, "model.model.init_args", {
        seed: spec.seed ?? 0,
      });
    }
    const module = new CellariumModule({
      transforms: steps,
      model: built,
      ...(spec.model.optimizer && { optimizer: spec.model.optimizer }),
      ...(spec.model.scheduler && { scheduler: spec.model.scheduler }),
    });
    return {
      collection,
      module,
      model: built,
      options: {
        ...spec.trainer,
        seed: spec.seed ?? 0,
        numReplicas: replica.numReplicas,
        replicaRank: replica.replicaRank,
      },
      train,
      val,
      loader: (range, whole = false) => {
        const options = whole ? { ...base, numReplicas: 1, replicaRank: 0 } : base;
        const loader = new DataLoader(collection, { ...options, startIdx: range[0], endIdx: range[1] });
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
  spec: RunSpec,
  prepared: PreparedRun,
  partial: { readonly path: string; readonly key: string } | null,
): Promise<void> {
  const outputs: [dir: string, key: string][] = [];
  if (spec.stage === "fit") {
    outputs.push([prepared.options.defaultRootDir ?? process.cwd(), "trainer.default_root_dir"]);
    const output = outputPathOf(prepared.model);
    // A part of a partial run leaves the model's outputs to `cellarium merge`.
    if (partial !== null) outputs.push([dirname(partial.path), partial.key]);
    else if (output !== null) outputs.push([dirname(output), "model.model.init_args.output_path"]);
  } else if (spec.stage === "predict" && spec.writer) {
    outputs.push([dirname(predictionPath(spec.writer)), spec.writer.outputDirKey ?? "output_dir"]);
  }
  for (const [dir, key] of outputs) await prepareOutputDirectory(dir, key);
}

/**
 * A config with ckpt_path need not restate what the checkpoint holds: with no config file, the
 * config the checkpoint's run stored, under the command-line overrides; with one, the model, data
 * and trainer sections it leaves out. (Upstream's .ckpt files store no config: predict then
 * rebuilds the pipeline from their contents.)
 */
async function completeFromCheckpoint(config: ConfigMap, run: RunOptions): Promise<ConfigMap> {
  const path = config.ckpt_path;
  if (typeof path !== "string") return config;
  const alone = run.configs.length === 0 && run.config === undefined;
  const missing = (["model", "data", "trainer"] as const).filter(
    (key) => config[key] === undefined || config[key] === null,
  );
  if (!alone && missing.length === 0) return config;
  const stored = configFromJson((await loadCheckpoint(path)).config ?? null);
  if (!isMap(stored)) return config;
  if (alone) return readConfig([], run.overrides, stored);
  for (const key of missing) if (stored[key] !== undefined) config[key] = stored[key];
  return config;
}

/**
 * The MPI world of a fit started by an MPI launcher, or null. validate and predict run as one
 * process (N ranks would each write the same outputs), and a launcher's world and a partial run's
 * flags are two answers to one question: both are refused, naming what was seen.
 */
function mpiWorldFor(
  stage: Stage,
  env: Env,
  flags: { replicaRank?: number; numReplicas?: number },
): MpiWorld | null {
  const launched = launchedWorld(env);
  if (launched === null) return null;
  if (stage !== "fit")
    throw new ConfigError(
      `${stage} runs as one process, but an MPI launcher started ${launched.size} (${launched.source}); run it without mpirun/srun`,
      { key: launched.source, value: launched.size },
    );
  if (flags.replicaRank !== undefined || flags.numReplicas !== undefined)
    throw new ConfigError(
      `--replica_rank/--num_replicas (a partial run) under an MPI launcher (${launched.size} ranks from ${launched.source}): use one or the other`,
      { key: "--num_replicas" },
    );
  return startMpi(env);
}

/** The run's seed: this process's, or MPI rank 0's at every rank. */
function sharedSeed(seed: number, world: MpiWorld | null): number {
  if (world === null) return seed;
  const value = new Float64Array([seed]);
  world.bcast(value, 0);
  return value[0]!;
}

/** Runs one model command, logging a summary line per output. */
export async function runModelCommand(entry: ModelEntry, stage: Stage, run: RunOptions): Promise<void> {
  const log = run.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const config = await readConfig(run.configs, run.overrides, run.config);
  // ckpt_path alone is a config too: the checkpoint's run stored the rest (completeFromCheckpoint).
  const given = run.configs.length > 0 || run.config !== undefined || typeof config.ckpt_path === "string";
  if (run.printConfig) {
    // Without a config: the complete default config, upstream's documented first step.
    process.stdout.write(dumpConfig(given ? config : deepMerge(defaultConfig(entry) as ConfigMap, config)));
    return;
  }
  if (!given)
    throw new ConfigError(
      `${entry.command} ${stage}: --config is required (--print_config prints a template)`,
      {
        key: "--config",
      },
    );
  const env = run.env ?? process.env;
  if (entry.blasThreads !== undefined && env["OPENBLAS_NUM_THREADS"] === undefined) {
    kernels().setNumThreads(entry.blasThreads);
  }
  const parsed = await parseRunSpec(entry, stage, await completeFromCheckpoint(config, run));
  const world = mpiWorldFor(stage, env, run.replica ?? {});
  const speak = world === null || world.rank === 0 ? log : () => {};
  // Drawn once here and passed to every replica thread (which re-reads the config), and sent from
  // MPI rank 0 to the others, so all use one seed (and so one order of the cells).
  const seed = sharedSeed(parsed.seed ?? randomInt(2 ** 31), world);
  const spec: RunSpec = {
    ...parsed,
    seed,
    trainer: { ...parsed.trainer, config: { ...(parsed.trainer.config as object), seed_everything: seed } },
  };
  // The loader's read-ahead workers start now (or were started by the command line before it read
  // the config), so that their start-up overlaps with opening the data and building the model;
  // replica threads start their own.
  prestartReadAheadWorkers(spec.devices === 1 ? spec.data.num_workers : 0);
  const replica = stage === "fit" && world === null ? resolveReplica(run.replica ?? {}, env) : null;
  if (replica && spec.devices > 1) {
    throw new ConfigError(
      `trainer.devices: ${spec.devices} with a partial run (part ${replica.rank} of ${replica.numReplicas}) is not supported; use devices: 1 per process`,
      { key: "trainer.devices" },
    );
  }
  const prepared = await prepareRun(
    spec,
    // With trainer.devices > 1 each thread builds its own part (the replica factory).
    { numReplicas: world?.size ?? replica?.numReplicas ?? 1, replicaRank: world?.rank ?? replica?.rank ?? 0 },
    speak,
  );
  try {
    // A partial run's checkpoint: --partial_path, else a file in default_root_dir.
    const partial = replica && {
      path: partialPath(run.partialPath, prepared.options.defaultRootDir ?? process.cwd(), replica),
      key: run.partialPath !== undefined ? "--partial_path" : "trainer.default_root_dir",
    };
    await prepareOutputs(spec, prepared, partial);
    if (stage === "fit") {
      await fit(spec, prepared, run, { replica, world }, partial, speak);
      return;
    }
    if (spec.ckptPath !== null) {
      if (spec.model.given) {
        const trained = await loadPipeline(spec.ckptPath);
        prepared.model.loadStateDict(trained.checkpoint.modelState);
      }
    } else {
      log(`warning: no ckpt_path given: ${stage} uses the untrained model`);
    }
    const trainer = new Trainer(prepared.options);
    if (stage === "validate") {
      const { loss, cells, metrics } = await trainer.validate(
        prepared.module,
        prepared.loader(prepared.val ?? prepared.train),
      );
      const parts = Object.entries(metrics).map(([name, value]) => `, ${name} ${value}`);
      log(`validate: loss ${loss}${parts.join("")} over ${cells} cells`);
      return;
    }
    const path = await predict(spec, prepared, trainer, log);
    if (predictionFormat(spec.writer!) !== "csv" && reportWanted(run))
      await reportAfter(path, run.reportColor !== undefined ? { color: run.reportColor } : {}, log);
  } finally {
    await prepared.close();
  }
}

async function fit(
  spec: RunSpec,
  prepared: PreparedRun,
  run: RunOptions,
  split: { replica: ReturnType<typeof resolveReplica> | null; world: MpiWorld | null },
  partial: { readonly path: string; readonly key: string } | null,
  log: (line: string) => void,
): Promise<void> {
  const { model: built, train, val } = prepared;
  const { replica, world } = split;
  const replicas = (world?.size ?? replica?.numReplicas ?? 1) * spec.devices;
  warnUnevenSplit(spec, train[1] - train[0], replicas, log);
  const pca = built.className === "IncrementalPCA" ? (built as unknown as IncrementalPCA) : null;
  if (pca?.algorithm === "lowrank" && replicas > 1) {
    // Each replica keeps its own top n_components directions and the merge cannot recover
    // what they dropped (bench/RESULTS.md, "IncrementalPCA with trainer.devices 1, 2, 4").
    log(
      `warning: IncrementalPCA over ${pca.var_names_g.length} genes keeps a rank-${pca.n_components} summary per replica; with ${replicas} replicas the components can differ from one replica's by degrees where the spectrum is flat (algorithm: scatter is exact, at ${Math.ceil((8 * pca.var_names_g.length ** 2) / 2 ** 20)} MiB per replica)`,
    );
  }
  const ckpt = spec.ckptPath !== null ? { ckptPath: spec.ckptPath } : {};
  let result: FitResult;
  if (replica) {
    if (!built.merge) {
      throw new ConfigError(
        `partial runs (part ${replica.rank} of ${replica.numReplicas}, from ${replica.source}) need a model with a merge; ${built.className} has none (train it under mpirun or srun, or with trainer.devices on one machine)`,
      );
    }
    const path = partial!.path;
    log(`partial run: part ${replica.rank} of ${replica.numReplicas} (from ${replica.source})`);
    const fingerprint = configFingerprint(prepared.options.config ?? null);
    result = await new Trainer({ ...prepared.options, partial: { fingerprint, path } }).fit(
      prepared.module,
      prepared.loader(train),
      ckpt,
    );
    log(`partial checkpoint: ${path}`);
  } else if (world || spec.devices > 1) {
    if (world) {
      // The ranks on one machine share its cores: each takes its share of BLAS threads
      // (OPENBLAS_NUM_THREADS, when set, decides; threads within ranks use one each, fitReplicas).
      const env = run.env ?? process.env;
      const k = kernels();
      if (env["OPENBLAS_NUM_THREADS"] === undefined && spec.devices === 1)
        k.setNumThreads(
          Math.max(1, Math.min(k.getNumThreads(), Math.floor(availableParallelism() / world.localSize))),
        );
      log(
        `replicas: ${world.size} MPI ranks (${world.localSize} on this machine; ${world.library.split(",")[0]}), ${spec.devices === 1 ? k.getNumThreads() : 1} BLAS thread(s) per replica`,
      );
      world.agree("config fingerprint", configFingerprint(prepared.options.config ?? null));
      world.agree(
        "parameter sizes",
        built
          .parameters()
          .map((p) => p.size)
          .join(","),
      );
    }
    let own: FitResult;
    if (spec.devices > 1) {
      log(`replicas: ${spec.devices} worker threads${world ? " in each rank" : ""}`);
      const replicated = await fitReplicas({
        numReplicas: spec.devices,
        factoryModule: new URL(`./replica-factory${extname(fileURLToPath(import.meta.url))}`, import.meta.url)
          .href,
        factoryArgs: {
          command: spec.entry.command,
          configs: [...run.configs],
          ...(run.config !== undefined && { config: run.config as JsonValue }),
          overrides: [...run.overrides, ["seed_everything", spec.seed]].map(([key, value]) => [
            key,
            value,
          ]) as JsonValue,
        },
        ...(world && { mpi: world }),
      });
      // Rank 0's trained state (every replica's is the same, or merged into rank 0's).
      built.loadStateDict(replicated.modelState);
      own = replicated;
    } else {
      own = await new Trainer({
        ...prepared.options,
        replicaGroup: new MpiReplicaGroup(world!, modelFactory),
      }).fit(prepared.module, prepared.loader(train), {
        ...ckpt,
        // Rank 0 validates the whole validation split; the others wait for it at their next step.
        ...(world!.rank === 0 && val && built.validate && { val: prepared.loader(val, true) }),
      });
    }
    if (world) {
      const cells = new Float64Array([own.cells]);
      world.allreduceSum(cells);
      own = { ...own, cells: cells[0]! };
    }
    result = own;
  } else {
    // (With trainer.devices > 1 the replica factory gives rank 0 the validation data.)
    result = await new Trainer(prepared.options).fit(prepared.module, prepared.loader(train), {
      ...ckpt,
      ...(val && built.validate && { val: prepared.loader(val, true) }),
    });
  }
  log(
    `fit: ${result.cells} cells in ${result.seconds.toFixed(1)} s (${Math.round(result.cells / result.seconds)} cells/s), global step ${result.position.globalStep}`,
  );
  const maxEpochs = prepared.options.maxEpochs;
  if (built.fitComplete?.() && maxEpochs !== undefined && result.position.epoch < maxEpochs) {
    log(
      `fit: ${built.className} needed ${result.position.epoch} of max_epochs ${maxEpochs} epoch(s) and stopped there (Lightning's should_stop)`,
    );
  }
  log(`run directory: ${result.runDir}`);
  for (const path of result.checkpoints) log(`checkpoint: ${path}`);
  const output = outputPathOf(built);
  if (output !== null && !replica) log(`output: ${output}`);
  if (result.valLoss !== undefined) log(`validation loss: ${result.valLoss}`);
  if (!replica && result.runDir !== "" && reportWanted(run)) {
    await writeValidationConfusion(prepared, result.runDir).catch((error: Error) => {
      log(`warning: no validation confusion matrix: ${error.message}`);
    });
    await reportAfter(result.runDir, {}, log);
  }
}

/**
 * A classifier's confusion matrix on the validation split, for the report (report/confusion.ts):
 * the trained model's predictions of the validation cells against their labels, written beside
 * metrics.csv. One predict pass over the validation cells; nothing without a split.
 */
async function writeValidationConfusion(prepared: PreparedRun, runDir: string): Promise<void> {
  const { model, val } = prepared;
  if (val === null || !model.predict || !(model.attributeNames?.() ?? []).includes("y_categories")) return;
  const categories = model.attribute!("y_categories") as readonly string[];
  const counter = new ConfusionCounter(categories.length);
  const trainer = new Trainer({ ...prepared.options, enableProgressBar: false });
  await trainer.predict(prepared.module, prepared.loader(val, true), (batch, output) => {
    counter.add(batch.y_n!, (output.y_logits_nc as Tensor).data);
  });
  await writeFileAtomic(join(runDir, CONFUSION_CSV), confusionCsv(categories, counter.counts), {
    key: "trainer.default_root_dir",
  });
}

/** --no_report or CELLARIUM_REPORT=0 turn off the report fit and predict write at their end. */
function reportWanted(run: RunOptions): boolean {
  return run.report ?? (run.env ?? process.env).CELLARIUM_REPORT !== "0";
}

/** The results are written: a report that fails is a warning, not a failed command. */
async function reportAfter(path: string, options: ReportOptions, log: (line: string) => void): Promise<void> {
  // Loaded only here: Vega, Vega-Lite and UMAP take ~0.2 s to load, which --no_report saves.
  const { reportCommand } = await import("./report.js");
  await reportCommand(path, { ...options, log }).catch((error: Error) => {
    log(`warning: no report: ${error.message}`);
  });
}

/** An AnnData output's layout (by the model) and obs (the input's); nothing for a CSV. */
function predictionContext(
  spec: RunSpec,
  prepared: PreparedRun,
  writer: PredictionWriterOptions,
): PredictionContext {
  if (predictionFormat(writer) === "csv") return {};
  return {
    layout: anndataLayout(prepared.module.model, {
      key: writer.key ?? "x_ng",
      obsmKey: writer.obsmKey ?? null,
      labelKey: singleKey(spec.data.batch_keys.y_n?.key),
      width: writer.predictionSize ?? null,
    }),
    obs: collectionObs(prepared.collection),
  };
}

async function predict(
  spec: RunSpec,
  prepared: PreparedRun,
  trainer: Trainer,
  log: (line: string) => void,
): Promise<string> {
  const writer: PredictionWriterOptions | null = spec.writer;
  if (!writer) {
    throw new ConfigError(
      "predict needs an output: add a callback {class_path: cellarium.ml.callbacks.PredictionWriter, init_args: {output_dir: ...}} to trainer.callbacks",
      { key: "trainer.callbacks" },
    );
  }
  const out = new PredictionWriter(writer, predictionContext(spec, prepared, writer));
  try {
    const { cells, seconds } = await trainer.predict(
      prepared.module,
      prepared.loader(predictCells(spec.data, prepared.collection.nObs)),
      (batch, output, cells) => out.write(batch, output, cells),
      spec.entry.predictOptions?.(writer.key ?? "x_ng"),
    );
    const path = await out.close();
    if (out.renamed > 0)
      log(
        `warning: ${out.renamed} cells renamed <name>-1, <name>-2, ... in ${path} to keep obs_names unique`,
      );
    log(`predict: ${cells} cells in ${seconds.toFixed(1)} s; predictions: ${path}`);
    return path;
  } catch (error) {
    await out.abort();
    throw error;
  }
}
