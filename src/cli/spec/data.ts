// The data side of a config: CellariumAnnDataDataModule's init signature (`data.*`) and the
// DistributedAnnDataCollection's (`data.dadc.init_args`), with upstream's defaults.

import type { BatchKeysConfig } from "../../data/batch-keys.js";
import type { CollectionOptions } from "../../data/collection.js";
import type { DataLoaderOptions } from "../../data/loader.js";
import { ConfigError } from "../../errors.js";
import type { BatchCount } from "../../train/trainer.js";
import {
  anything,
  boolean,
  countOrFraction,
  defaults,
  ignored,
  integer,
  key,
  mapping,
  nullable,
  oneOf,
  only,
  type Parsed,
  parseSection,
  required,
  shownValue,
  strings,
  type Value,
} from "./keys.js";
import { classNameOf, classSpec } from "./lightning.js";

const DADC_CLASS = "cellarium.ml.data.DistributedAnnDataCollection";

function filenames(value: Value, where: string): string | string[] {
  return typeof value === "string" ? value : strings(value, where);
}

function integers(value: Value, where: string): number[] {
  if (!Array.isArray(value))
    throw new ConfigError(`${where}: expected a list of integers, got ${shownValue(value)}`);
  return value.map((v, i) => integer(v, `${where}.${i}`));
}

const DADC = {
  filenames: key(
    filenames,
    required,
    "shard paths or URLs; a string is brace-expanded (data_{000..099}.h5ad)",
  ),
  limits: nullable(integers, "cumulative cell counts of the shards (null: read from the files)"),
  shard_size: nullable(integer, "cells per shard (null: read from the files)"),
  last_shard_size: nullable(integer, "cells in the last shard (with shard_size)"),
  max_cache_size: key(integer, 1, "open shards kept"),
  cache_size_strictly_enforced: key(
    boolean,
    true,
    "a batch needing more shards than max_cache_size is an error",
  ),
  label: only([], null, "collections of one AnnData kind only"),
  keys: only([], null, "collections of one AnnData kind only"),
  index_unique: only([], null, "obs names are kept as stored"),
  convert: only([], null, "use batch_keys convert_fn"),
  indices_strict: ignored(true, "indices are always checked"),
  obs_columns_to_validate: nullable(strings, "obs columns checked across shards (null: all of shard 0's)"),
} as const;

/** Parsed `data.dadc`: the collection's options. */
export function parseCollection(value: Value): CollectionOptions {
  if (value === undefined || value === null)
    throw new ConfigError("data.dadc is required (the DistributedAnnDataCollection)", { key: "data.dadc" });
  const { classPath, initArgs } = classSpec(value, "data.dadc");
  if (classNameOf(classPath) !== "DistributedAnnDataCollection")
    throw new ConfigError(`data.dadc.class_path: "${classPath}" is not supported; use ${DADC_CLASS}`, {
      key: "data.dadc.class_path",
    });
  const d = parseSection(initArgs, DADC, "data.dadc.init_args");
  return {
    filenames: d.filenames,
    ...(d.limits !== null && { limits: d.limits }),
    ...(d.shard_size !== null && { shardSize: d.shard_size }),
    ...(d.last_shard_size !== null && { lastShardSize: d.last_shard_size }),
    maxCacheSize: d.max_cache_size,
    cacheSizeStrictlyEnforced: d.cache_size_strictly_enforced,
    ...(d.obs_columns_to_validate !== null && { obsColumnsToValidate: d.obs_columns_to_validate }),
  };
}

const DATA = {
  dadc: key(
    anything,
    required,
    "the DistributedAnnDataCollection: {class_path, init_args: {filenames, ...}}",
  ),
  batch_keys: key(
    (v, where) => mapping(v, where) as unknown as BatchKeysConfig,
    required,
    "batch key -> {attr, key, convert_fn}, e.g. x_ng: {attr: X}",
  ),
  batch_size: key(integer, 1, "cells per batch"),
  iteration_strategy: key(
    oneOf(["same_order", "cache_efficient"] as const),
    "cache_efficient",
    "shard order",
  ),
  shuffle: key(boolean, false, "shuffle shards, then cells within shards, every epoch"),
  shuffle_seed: key(integer, 0, "epoch e is shuffled with shuffle_seed + e"),
  drop_last_indices: key(boolean, false, "drop cells that do not split evenly across replicas (else pad)"),
  drop_incomplete_batch: key(boolean, false, "drop each replica's last partial batch"),
  train_size: nullable(
    countOrFraction,
    "training cells: an int counts, a float is a fraction (null: the rest)",
  ),
  val_size: nullable(countOrFraction, "validation cells after the training ones (null: the rest, or none)"),
  pred_size: nullable(countOrFraction, "cells predicted, the last ones of the collection (null: all)"),
  worker_seed: ignored(null, "read-ahead workers draw no random numbers"),
  test_mode: only([false], false, "a test setting of upstream's"),
  num_workers: key(integer, 0, "read-ahead worker threads"),
  prefetch_factor: nullable(integer, "batches each worker reads ahead (null: 2)"),
  // Our read-ahead workers always serve every epoch (a thread costs ~0.15 s to start), as torch's
  // persistent_workers: true; false changes nothing but that start-up per epoch.
  persistent_workers: ignored(false, "workers always serve every epoch"),
  pin_memory: ignored(false, "a CUDA setting"),
} as const;

export type DataSpec = Parsed<typeof DATA>;

export function parseData(value: Value): DataSpec {
  return parseSection(value, DATA, "data");
}

export function dataDefaults(): Record<string, unknown> {
  const out = defaults(DATA);
  out.dadc = { class_path: DADC_CLASS, init_args: defaults(DADC) };
  out.batch_keys = {
    x_ng: { attr: "X", convert_fn: "cellarium.ml.utilities.data.to_torch_sparse_csr" },
    var_names_g: { attr: "var_names" },
  };
  return out;
}

/** The loader options of a parsed data section, for one replica. */
export function loaderOptions(
  data: DataSpec,
  numReplicas: number,
  replicaRank: number,
): Omit<DataLoaderOptions, "startIdx" | "endIdx"> {
  return {
    batchKeys: data.batch_keys,
    batchSize: data.batch_size,
    shuffle: data.shuffle,
    shuffleSeed: data.shuffle_seed,
    dropLastIndices: data.drop_last_indices,
    dropIncompleteBatch: data.drop_incomplete_batch,
    iterationStrategy: data.iteration_strategy,
    numWorkers: data.num_workers,
    ...(data.prefetch_factor !== null && { prefetch: data.prefetch_factor }),
    numReplicas,
    replicaRank,
  };
}

/** A split size in cells: an int counts them, a float is a fraction rounded up (upstream's train_val_split). */
function cellsOf(size: BatchCount, nObs: number): number {
  return "count" in size ? size.count : Math.ceil(size.fraction * nObs);
}

/**
 * Cells [0, train) train and [train, train + val) validate, as upstream's train_val_split: a float
 * is rounded up; an unset size is the complement of the other (none validate when both are unset).
 */
export function splits(
  data: DataSpec,
  nObs: number,
): { train: [number, number]; val: [number, number] | null } {
  const count = (size: BatchCount) => cellsOf(size, nObs);
  const { train_size: trainSize, val_size: valSize } = data;
  const val = valSize !== null ? count(valSize) : trainSize !== null ? nObs - count(trainSize) : 0;
  const train = trainSize !== null ? count(trainSize) : nObs - val;
  if (train + val > nObs)
    throw new ConfigError(
      `data.train_size + data.val_size = ${train + val} cells, more than the collection's ${nObs}`,
      { key: "data.train_size" },
    );
  return { train: [0, train], val: val > 0 ? [train, train + val] : null };
}

/** The cells predict reads: the last pred_size, as upstream's predict loader (all when unset). */
export function predictCells(data: DataSpec, nObs: number): [number, number] {
  const size = data.pred_size;
  if (size === null) return [0, nObs];
  const cells = cellsOf(size, nObs);
  if (cells > nObs)
    throw new ConfigError(`data.pred_size: ${cells} cells, more than the collection's ${nObs}`, {
      key: "data.pred_size",
    });
  return [nObs - cells, nObs];
}
