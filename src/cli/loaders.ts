// Evaluation of the config's loader tags (upstream's cli.py FileLoader, FileMultiLoader and
// CheckpointLoader): load a file once, take an attribute path and/or a key, convert.
// Loaders: pandas.read_csv (src/cli/csv.ts) for files, checkpoints for !CheckpointLoader.
// Python conversion functions that only change the container type are accepted by name.

import type { BatchStep } from "../data/batch.js";
import { ConfigError } from "../errors.js";
import { Tensor } from "../tensor/tensor.js";
import { frozenStep, loadPipeline, pipelineAttribute } from "./checkpoint-pipeline.js";
import { type CsvFrame, readCsv } from "./csv.js";
import { type ConfigMap, type ConfigValue, isMap, LoaderTag } from "./yaml.js";

/** A config tree after evaluation: loader tags replaced by values, frozen pipelines or tensors. */
export type Resolved =
  | ConfigValue
  | Float32Array
  | Tensor
  | readonly string[]
  | BatchStep
  | ResolvedMap
  | Resolved[];
export interface ResolvedMap {
  [key: string]: Resolved;
}

const CSV_LOADERS = ["pandas.read_csv", "read_csv"];
// Conversions that keep the values: lists, arrays and tensors are one kind of value here.
const KEEP = [
  "numpy.ndarray.tolist",
  "pandas.Series.tolist",
  "pandas.Series.to_list",
  "pandas.Index.tolist",
  "pandas.Index.to_list",
  "pandas.Series.to_numpy",
  "pandas.Index.to_numpy",
  "numpy.asarray",
  "numpy.array",
  "list",
  "torch.tensor",
  "torch.as_tensor",
];
const TO_FLOAT32 = ["torch.FloatTensor", "torch.Tensor.float"];

function field(
  spec: Record<string, ConfigValue>,
  key: string,
  where: string,
  required: boolean,
): string | null {
  const value = spec[key];
  if (value === undefined || value === null) {
    if (required) throw new ConfigError(`${where}: missing ${key}`);
    return null;
  }
  if (typeof value !== "string")
    throw new ConfigError(`${where}.${key}: expected a string, got ${JSON.stringify(value)}`);
  return value;
}

function checkSpecKeys(spec: Record<string, ConfigValue>, allowed: readonly string[], where: string): void {
  for (const key of Object.keys(spec)) {
    if (!allowed.includes(key))
      throw new ConfigError(`${where}: unknown key "${key}"; accepted: ${allowed.join(", ")}`);
  }
}

function fromFrame(
  frame: CsvFrame,
  path: string,
  attr: string | null,
  key: string | null,
  where: string,
): Resolved {
  let value: Resolved | CsvFrame = frame;
  for (const part of attr ? attr.split(".") : []) {
    if (part === "values" || part === "to_numpy()") continue;
    if (value !== frame) throw new ConfigError(`${where}: attr "${attr}": cannot read "${part}" of a column`);
    if (part === "index") value = [...frame.index] as unknown as Resolved;
    else if (part === "columns") value = [...frame.columns];
    else if (Object.hasOwn(frame.data, part)) value = [...frame.data[part]!] as Resolved;
    else
      throw new ConfigError(
        `${where}: ${path} has no column "${part}"; columns: ${frame.columns.join(", ")}`,
      );
  }
  if (key !== null) {
    if (value !== frame)
      throw new ConfigError(`${where}: key "${key}" can only select a column of the whole file`);
    if (!Object.hasOwn(frame.data, key))
      throw new ConfigError(`${where}: ${path} has no column "${key}"; columns: ${frame.columns.join(", ")}`);
    value = [...frame.data[key]!] as Resolved;
  }
  if (value === frame) throw new ConfigError(`${where}: give attr or key to select a column of ${path}`);
  return value as Resolved;
}

function convert(value: Resolved, convertFn: string | null, where: string): Resolved {
  if (convertFn === null || KEEP.includes(convertFn)) return value;
  if (TO_FLOAT32.includes(convertFn)) {
    if (value instanceof Tensor) return Float32Array.from(value.data);
    if (Array.isArray(value) && value.every((v) => typeof v === "number"))
      return Float32Array.from(value as number[]);
    if (value instanceof Float32Array) return value;
    throw new ConfigError(`${where}: ${convertFn} needs numbers`);
  }
  throw new ConfigError(
    `${where}: convert_fn "${convertFn}" is not supported; accepted: null, ${[...TO_FLOAT32, ...KEEP].join(", ")}`,
  );
}

async function loadFile(path: string, loaderFn: string, where: string): Promise<CsvFrame> {
  if (loaderFn.endsWith("compute_cl_distance_matrix")) {
    // before the file is fetched: upstream's scVI config names a URL here
    throw new ConfigError(
      `${where}: loader_fn "${loaderFn}" builds the cell-ontology distance matrix of scVI's ontology validation metrics, which cellarium-ts does not implement; remove the key (the model trains without it)`,
    );
  }
  if (!CSV_LOADERS.includes(loaderFn)) {
    throw new ConfigError(
      `${where}: loader_fn "${loaderFn}" is not supported; accepted: ${CSV_LOADERS.join(", ")}`,
    );
  }
  return readCsv(path);
}

async function evaluate(tag: LoaderTag, where: string): Promise<Resolved> {
  const spec = tag.spec;
  if (tag.tag === "!CheckpointLoader") {
    checkSpecKeys(spec, ["file_path", "attr", "key", "convert_fn"], where);
    const path = field(spec, "file_path", where, true)!;
    const attr = field(spec, "attr", where, false);
    const pipeline = await loadPipeline(path);
    if (attr === null) return frozenStep(pipeline);
    const value = pipelineAttribute(pipeline, attr);
    return convert(
      typeof value === "number" ? value : (value as Resolved),
      field(spec, "convert_fn", where, false),
      where,
    );
  }
  const path = field(spec, "file_path", where, true)!;
  const frame = await loadFile(path, field(spec, "loader_fn", where, true)!, where);
  if (tag.tag === "!FileLoader") {
    checkSpecKeys(spec, ["file_path", "loader_fn", "attr", "key", "convert_fn"], where);
    const value = fromFrame(
      frame,
      path,
      field(spec, "attr", where, false),
      field(spec, "key", where, false),
      where,
    );
    return convert(value, field(spec, "convert_fn", where, false), where);
  }
  checkSpecKeys(spec, ["file_path", "loader_fn", "fields"], where);
  const fields = spec.fields;
  if (!isMap(fields))
    throw new ConfigError(`${where}.fields: expected a mapping of name -> {attr, key, convert_fn}`);
  const out: ResolvedMap = {};
  for (const [name, fieldSpec] of Object.entries(fields)) {
    const at = `${where}.fields.${name}`;
    if (!isMap(fieldSpec)) throw new ConfigError(`${at}: expected a mapping {attr, key, convert_fn}`);
    checkSpecKeys(fieldSpec, ["attr", "key", "convert_fn"], at);
    const value = fromFrame(
      frame,
      path,
      field(fieldSpec, "attr", at, false),
      field(fieldSpec, "key", at, false),
      at,
    );
    out[name] = convert(value, field(fieldSpec, "convert_fn", at, false), at);
  }
  return out;
}

/** Evaluates every loader tag in `value` (a config subtree at dotted path `where`). */
export async function resolveLoaders(value: ConfigValue, where: string): Promise<Resolved> {
  if (value instanceof LoaderTag) return evaluate(value, `${where} (${value.tag})`);
  if (Array.isArray(value)) return Promise.all(value.map((item, i) => resolveLoaders(item, `${where}.${i}`)));
  if (isMap(value)) {
    const out: ResolvedMap = {};
    for (const [key, item] of Object.entries(value as ConfigMap))
      out[key] = await resolveLoaders(item, where ? `${where}.${key}` : key);
    return out;
  }
  return value;
}
