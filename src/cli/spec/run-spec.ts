// The parse step of a model command: a LightningCLI-layout config (files merged, overrides set) in,
// a typed RunSpec out. Every key is read here, by its declaration (keys.ts, lightning.ts, data.ts,
// the registry's init args), before any data is opened; the runner (../run.ts) only executes it.

import type { CollectionOptions } from "../../data/collection.js";
import { ConfigError } from "../../errors.js";
import type { PredictionWriterOptions } from "../../io/prediction-writer.js";
import type { Kwargs } from "../../optim/registry.js";
import type { TrainerOptions } from "../../train/trainer.js";
import type { PipelineStep } from "../../transforms/compose.js";
import { resolveLoaders } from "../loaders.js";
import { createTransform, type ModelEntry, type Stage } from "../registry.js";
import type { ConfigMap } from "../yaml.js";
import { type DataSpec, dataDefaults, parseCollection, parseData } from "./data.js";
import {
  anything,
  defaults,
  ignored,
  key,
  mapping,
  nullable,
  parseSection,
  type Section,
  shownValue,
  string,
  type Value,
} from "./keys.js";
import {
  callbacksOf,
  classNameOf,
  classSpec,
  parseTrainer,
  TOP_LEVEL,
  trainerDefaults,
} from "./lightning.js";

export interface RunSpec {
  readonly entry: ModelEntry;
  readonly stage: Stage;
  /** seed_everything; null: to be drawn (runModelCommand draws it once for every replica). */
  readonly seed: number | null;
  readonly ckptPath: string | null;
  readonly collection: CollectionOptions;
  readonly data: DataSpec;
  readonly transforms: readonly PipelineStep[];
  readonly model: ModelSpec;
  /** Without the replica fields, which the runner adds. */
  readonly trainer: TrainerOptions;
  /** Replicas in worker threads (trainer.devices). */
  readonly devices: number;
  readonly writer: PredictionWriterOptions | null;
}

export interface ModelSpec {
  /** model.model.init_args as given (loader tags evaluated); the derived arguments are added from the data. */
  readonly initArgs: Readonly<Record<string, Value>>;
  /** Whether the config names the model; a predict or resume may leave it to the checkpoint. */
  readonly given: boolean;
  readonly optimizer?: { readonly name: string; readonly kwargs: Kwargs };
  readonly scheduler?: { readonly name: string; readonly kwargs: Kwargs };
}

/** Keyword arguments of an optimizer or scheduler: a mapping, checked by the optimizer itself. */
const kwargs = (value: Value, where: string) => mapping(value, where) as Kwargs;

function transformList(value: Value, where: string): Value[] {
  if (!Array.isArray(value))
    throw new ConfigError(`${where}: expected a list, got ${shownValue(value)}`, { key: where });
  return value;
}

/** CellariumModule's init signature (`model.*`). */
const MODULE = {
  cpu_transforms: nullable(transformList, "transforms applied before the batch reaches the model's device"),
  transforms: nullable(transformList, "transforms applied in order: class paths or {class_path, init_args}"),
  model: nullable(anything, "the model: its class path, or {class_path, init_args}"),
  optim_fn: nullable(string, "the optimizer, e.g. torch.optim.Adam (gradient models)"),
  optim_kwargs: nullable(kwargs, "the optimizer's arguments, e.g. {lr: 0.001}"),
  scheduler_fn: nullable(string, "the learning-rate scheduler"),
  scheduler_kwargs: nullable(kwargs, "the scheduler's arguments"),
  is_initialized: ignored(false, "parameters are initialized when the model is built"),
} satisfies Section;

const TOP = {
  ...TOP_LEVEL,
  trainer: key(anything, null, "Lightning Trainer arguments"),
  model: key(anything, null, "CellariumModule arguments: transforms, model, optimizer"),
  data: key(anything, null, "CellariumAnnDataDataModule arguments: dadc, batch_keys, batch_size, ..."),
} satisfies Section;

function buildTransforms(lists: readonly (Value[] | null)[], names: readonly string[]): PipelineStep[] {
  const steps: PipelineStep[] = [];
  lists.forEach((list, k) => {
    list?.forEach((item, i) => {
      const where = `model.${names[k]}.${i}`;
      // A !CheckpointLoader with attr null: a trained pipeline used as a frozen step.
      if (typeof item === "function") steps.push(item as PipelineStep);
      else {
        const { classPath, initArgs } = classSpec(item, where);
        steps.push(createTransform(classPath, initArgs, where));
      }
    });
  });
  return steps;
}

/** Reads a whole config for `entry`'s `stage`: every key checked, loader tags evaluated. */
export async function parseRunSpec(entry: ModelEntry, stage: Stage, config: ConfigMap): Promise<RunSpec> {
  const top = parseSection(config, TOP, "");
  const trainer = parseTrainer(top.trainer, entry.maxEpochs);
  const data = parseData(top.data);
  const collection = parseCollection(data.dadc);
  const module = parseSection(await resolveLoaders((top.model ?? {}) as ConfigMap, "model"), MODULE, "model");
  const transforms = buildTransforms(
    [module.cpu_transforms, module.transforms],
    ["cpu_transforms", "transforms"],
  );

  let initArgs: Record<string, Value> = {};
  if (module.model !== null) {
    const spec = classSpec(module.model, "model.model");
    if (classNameOf(spec.classPath) !== entry.className)
      throw new ConfigError(
        `model.model.class_path: "${spec.classPath}" does not match the command ${entry.command} (${entry.className})`,
        { key: "model.model.class_path" },
      );
    initArgs = spec.initArgs;
  }
  const rootDir = trainer.default_root_dir ?? process.cwd();
  initArgs = { ...entry.outputDefaults?.(rootDir), ...initArgs };
  // Every argument is checked now, before any data is read; the derived ones may still be missing.
  const early = Object.fromEntries(
    Object.entries(entry.args).map(([name, k]) => [
      name,
      entry.derived.includes(name as never) ? { ...k, fallback: null } : k,
    ]),
  );
  if (module.model !== null || stage === "fit") parseSection(initArgs, early, "model.model.init_args");

  const callbacks = callbacksOf(trainer);
  const options: TrainerOptions = {
    ...(trainer.max_epochs !== null && { maxEpochs: trainer.max_epochs }),
    maxSteps: trainer.max_steps,
    ...(trainer.limit_train_batches !== null && { limitTrainBatches: trainer.limit_train_batches }),
    ...(trainer.limit_val_batches !== null && { limitValBatches: trainer.limit_val_batches }),
    ...(trainer.limit_predict_batches !== null && { limitPredictBatches: trainer.limit_predict_batches }),
    ...(trainer.val_check_interval !== null && { valCheckInterval: trainer.val_check_interval }),
    checkValEveryNEpoch: trainer.check_val_every_n_epoch,
    logEveryNSteps: trainer.log_every_n_steps,
    accumulateGradBatches: trainer.accumulate_grad_batches,
    gradientClipVal: trainer.gradient_clip_val,
    gradientClipAlgorithm: trainer.gradient_clip_algorithm,
    defaultRootDir: rootDir,
    checkpointing: callbacks.checkpoint ?? false,
    enableProgressBar: trainer.enable_progress_bar,
    logger: trainer.logger,
    // Stored in checkpoints: what a resume compares and `ckpt_path` alone restores.
    // (Loader tags as {tag, spec}: the config is the one before they are evaluated.)
    config: JSON.parse(JSON.stringify(config)),
  };
  return {
    entry,
    stage,
    seed: top.seed_everything,
    ckptPath: top.ckpt_path,
    collection,
    data,
    transforms,
    model: {
      initArgs,
      given: module.model !== null,
      ...(module.optim_fn !== null && {
        optimizer: { name: module.optim_fn, kwargs: module.optim_kwargs ?? {} },
      }),
      ...(module.scheduler_fn !== null && {
        scheduler: { name: module.scheduler_fn, kwargs: module.scheduler_kwargs ?? {} },
      }),
    },
    trainer: options,
    devices: trainer.devices,
    writer: callbacks.writer,
  };
}

/**
 * The complete default config of `entry`'s command, in upstream's layout (what `--print_config`
 * prints without --config): every key at its default, required ones null.
 */
export function defaultConfig(entry: ModelEntry): Record<string, unknown> {
  const model = defaults(MODULE);
  model.model = {
    class_path: `cellarium.ml.models.${entry.className}`,
    // The derived arguments are filled in from the data, as upstream's linked arguments are.
    init_args: Object.fromEntries(
      Object.entries({ ...defaults(entry.args), ...entry.outputDefaults?.(".") }).filter(
        ([name]) => !entry.derived.includes(name as never),
      ),
    ),
  };
  return {
    seed_everything: true,
    trainer: trainerDefaults(entry.maxEpochs),
    model,
    data: dataDefaults(),
    ...Object.fromEntries(Object.entries(defaults(TOP_LEVEL)).filter(([name]) => name !== "seed_everything")),
  };
}
