// cellarium-ml's YAML configs, read as PyYAML reads them (YAML 1.1: `10_000` is an int,
// yes/no/on/off are booleans, but `y` and `n` stay strings as in PyYAML), with the loader tags
// !FileLoader, !FileMultiLoader and !CheckpointLoader kept as LoaderTag values. Tags are
// evaluated after command-line overrides, so `--model.transforms.3.init_args.file_path x` works.

import { type CollectionTag, parse, parseDocument, type ScalarTag, stringify, YAMLMap } from "yaml";
import { ConfigError } from "../errors.js";

export const LOADER_TAGS = ["!FileLoader", "!FileMultiLoader", "!CheckpointLoader"] as const;
export type LoaderTagName = (typeof LOADER_TAGS)[number];

/** A loader tag and its mapping, evaluated later by src/cli/loaders.ts. */
export class LoaderTag {
  constructor(
    readonly tag: LoaderTagName,
    readonly spec: Record<string, ConfigValue>,
  ) {}
}

export type ConfigValue = null | boolean | number | string | LoaderTag | ConfigValue[] | ConfigMap;
export interface ConfigMap {
  [key: string]: ConfigValue;
}

// PyYAML's boolean words; the yaml package's YAML 1.1 schema also takes y/n, which PyYAML does not.
const pythonBool: ScalarTag = {
  tag: "tag:yaml.org,2002:bool",
  default: true,
  test: /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/,
  resolve: (text) => /^(?:yes|true|on)$/i.test(text),
  identify: (value) => typeof value === "boolean",
  stringify: ({ value }) => (value ? "true" : "false"),
};

const loaderTags: CollectionTag[] = LOADER_TAGS.map((tag) => ({
  tag,
  collection: "map",
  nodeClass: YAMLMap,
  resolve(map) {
    return new LoaderTag(tag, (map as YAMLMap).toJSON() as Record<string, ConfigValue>);
  },
  identify: (value) => value instanceof LoaderTag && value.tag === tag,
  createNode(schema, value, ctx) {
    const node = YAMLMap.from(schema, (value as LoaderTag).spec, ctx);
    node.tag = tag;
    return node;
  },
}));

const options = {
  version: "1.1" as const,
  customTags: (tags: unknown[]) => [
    ...(tags as ScalarTag[]).filter((t) => t.tag !== "tag:yaml.org,2002:bool"),
    pythonBool,
    ...loaderTags,
  ],
};

/** Parses a config file's text; syntax errors name the file, line and column. */
export function parseConfigYaml(text: string, source: string): ConfigMap {
  const document = parseDocument(text, options);
  const error = document.errors[0];
  if (error) {
    const where = error.linePos?.[0] ? `:${error.linePos[0].line}:${error.linePos[0].col}` : "";
    throw new ConfigError(`${source}${where}: invalid YAML (${error.message.split("\n")[0]})`);
  }
  const value = document.toJS() as ConfigValue;
  if (value === null || value === undefined) return {};
  if (typeof value !== "object" || Array.isArray(value) || value instanceof LoaderTag) {
    throw new ConfigError(`${source}: a config must be a mapping at the top level`);
  }
  return value;
}

/** Parses one command-line value as a YAML scalar or flow collection (`2`, `null`, `[a, b]`, `{lr: 0.1}`). */
export function parseYamlValue(text: string): ConfigValue {
  return parse(text, options) as ConfigValue;
}

/** The config as YAML, loader tags included (for --print_config). */
export function dumpConfig(config: ConfigMap): string {
  return stringify(config, { ...options, lineWidth: 0 });
}

/** A mapping of the config (not a list, not a loader tag). */
export function isMap(value: ConfigValue | undefined): value is ConfigMap {
  return (
    typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof LoaderTag)
  );
}

/**
 * A config stored as JSON (a checkpoint's) back as a config: its loader tags, which JSON wrote as
 * {tag, spec}, become LoaderTags again.
 */
export function configFromJson(value: unknown): ConfigValue {
  if (Array.isArray(value)) return value.map(configFromJson);
  if (typeof value !== "object" || value === null) return value as ConfigValue;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  if (
    keys.length === 2 &&
    LOADER_TAGS.includes(record.tag as LoaderTagName) &&
    typeof record.spec === "object" &&
    record.spec !== null
  )
    return new LoaderTag(
      record.tag as LoaderTagName,
      configFromJson(record.spec) as Record<string, ConfigValue>,
    );
  return Object.fromEntries(keys.map((key) => [key, configFromJson(record[key])]));
}
