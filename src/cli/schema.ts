// The LightningCLI layout of cellarium-ml's configs: which keys exist, which we act on, and which
// Lightning keys we accept only at their default (null, false, their Lightning default) because
// they have no meaning here (precision, profiler, plugins, ...). An unknown key, or an inert key
// set to something else, is a ConfigError naming the key and the value.

import { ConfigError } from "../errors.js";
import { type ConfigMap, type ConfigValue, LoaderTag } from "./yaml.js";

/** A key we use, or a key accepted only when its value is one of these. */
type KeyRule = "used" | { readonly accepted: readonly ConfigValue[] };

const used = "used" as const;
const inert = (...accepted: ConfigValue[]): KeyRule => ({ accepted: [null, ...accepted] });

export const TOP_LEVEL: Record<string, KeyRule> = {
  seed_everything: used,
  trainer: used,
  model: used,
  data: used,
  ckpt_path: used,
  // Written by LightningCLI's --print_config; a config file may carry them.
  optimizer: inert(),
  lr_scheduler: inert(),
  return_predictions: inert(true, false),
};

export const TRAINER: Record<string, KeyRule> = {
  accelerator: inert("auto", "cpu"),
  strategy: used,
  devices: used,
  num_nodes: inert(1),
  precision: inert(32, "32", "32-true"),
  logger: inert(true, false),
  callbacks: used,
  fast_dev_run: inert(false),
  max_epochs: used,
  min_epochs: inert(),
  max_steps: used,
  min_steps: inert(),
  max_time: inert(),
  limit_train_batches: used,
  limit_val_batches: used,
  limit_test_batches: inert(),
  limit_predict_batches: used,
  overfit_batches: inert(0, 0.0),
  val_check_interval: inert(),
  check_val_every_n_epoch: inert(1),
  num_sanity_val_steps: inert(0),
  log_every_n_steps: used,
  enable_checkpointing: used,
  enable_progress_bar: used,
  enable_model_summary: inert(true, false),
  accumulate_grad_batches: used,
  gradient_clip_val: used,
  gradient_clip_algorithm: used,
  deterministic: inert(true, false),
  benchmark: inert(false),
  inference_mode: inert(true, false),
  use_distributed_sampler: inert(true, false),
  profiler: inert(),
  detect_anomaly: inert(false),
  barebones: inert(false),
  plugins: inert(),
  sync_batchnorm: inert(false),
  reload_dataloaders_every_n_epochs: inert(0),
  default_root_dir: used,
};

export const MODEL: Record<string, KeyRule> = {
  cpu_transforms: used,
  transforms: used,
  model: used,
  optim_fn: used,
  optim_kwargs: used,
  scheduler_fn: used,
  scheduler_kwargs: used,
  is_initialized: inert(false, true),
};

export const DATA: Record<string, KeyRule> = {
  dadc: used,
  batch_keys: used,
  batch_size: used,
  iteration_strategy: used,
  shuffle: used,
  shuffle_seed: used,
  drop_last_indices: used,
  drop_incomplete_batch: used,
  train_size: used,
  val_size: used,
  pred_size: inert(),
  worker_seed: inert(),
  test_mode: inert(false),
  num_workers: used,
  prefetch_factor: used,
  // Our read-ahead workers always serve every epoch (a thread costs ~0.15 s to start), as
  // torch's persistent_workers: true; false changes nothing but that start-up per epoch.
  persistent_workers: inert(false, true),
  pin_memory: inert(false, true),
};

export const DADC: Record<string, KeyRule> = {
  filenames: used,
  limits: used,
  shard_size: used,
  last_shard_size: used,
  max_cache_size: used,
  cache_size_strictly_enforced: used,
  label: inert(),
  keys: inert(),
  index_unique: inert(),
  convert: inert(),
  indices_strict: inert(true, false),
  obs_columns_to_validate: used,
};

function isMap(value: ConfigValue | undefined): value is ConfigMap {
  return (
    typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof LoaderTag)
  );
}

/** Checks the keys of `section` (at dotted `path`) against `rules`. */
export function checkKeys(
  section: ConfigValue | undefined,
  rules: Record<string, KeyRule>,
  path: string,
): void {
  if (section === undefined || section === null) return;
  if (!isMap(section)) throw new ConfigError(`${path} must be a mapping, got ${JSON.stringify(section)}`);
  for (const [key, value] of Object.entries(section)) {
    const rule = rules[key];
    const where = path ? `${path}.${key}` : key;
    if (rule === undefined) {
      throw new ConfigError(
        `unknown config key ${where}; valid keys of ${path || "the config"}: ${Object.keys(rules).join(", ")}`,
      );
    }
    if (rule !== "used" && !rule.accepted.some((accepted) => accepted === value)) {
      throw new ConfigError(
        `${where}: ${JSON.stringify(value)} is not supported by cellarium-ts (accepted: ${rule.accepted.map((v) => JSON.stringify(v)).join(", ")})`,
      );
    }
  }
}

/** Checks the whole LightningCLI layout: top level, trainer, model, data and data.dadc.init_args. */
export function checkLayout(config: ConfigMap): void {
  checkKeys(config, TOP_LEVEL, "");
  checkKeys(config.trainer, TRAINER, "trainer");
  checkKeys(config.model, MODEL, "model");
  checkKeys(config.data, DATA, "data");
  const dadc = isMap(config.data) ? config.data.dadc : undefined;
  if (isMap(dadc)) {
    checkKeys(dadc, { class_path: used, init_args: used }, "data.dadc");
    checkKeys(dadc.init_args, DADC, "data.dadc.init_args");
  }
}

export { isMap };
