// Command-line overrides of config values, as LightningCLI takes them: `--trainer.max_epochs 2`,
// `--model.model.init_args.algorithm=naive`, list items by index (`--model.transforms.1.init_args.target_count 1e4`).
// The value is read as YAML, so numbers, booleans, null and flow lists keep their types.

import { ConfigError } from "../errors.js";
import { type ConfigMap, type ConfigValue, LoaderTag, parseYamlValue } from "./yaml.js";

/** Sets `dottedKey` in `config` (in place), creating mappings on the way. */
export function setDotted(config: ConfigMap, dottedKey: string, value: ConfigValue): void {
  const parts = dottedKey.split(".");
  if (parts.some((p) => p === "")) throw new ConfigError(`--${dottedKey}: not a valid dotted config key`);
  let node: ConfigValue = config;
  for (let i = 0; i < parts.length - 1; i++) {
    const part = parts[i]!;
    const container: ConfigValue = node instanceof LoaderTag ? node.spec : node;
    if (Array.isArray(container)) {
      const index = Number(part);
      if (!Number.isInteger(index) || index < 0 || index >= container.length) {
        throw new ConfigError(
          `--${dottedKey}: ${parts.slice(0, i).join(".")} has ${container.length} items, no item ${part}`,
        );
      }
      node = container[index]!;
    } else if (typeof container === "object" && container !== null) {
      const map = container as ConfigMap;
      if (map[part] === undefined || map[part] === null) map[part] = {};
      node = map[part]!;
    } else {
      throw new ConfigError(
        `--${dottedKey}: ${parts.slice(0, i).join(".")} is ${JSON.stringify(container)}, not a mapping`,
      );
    }
  }
  const last = parts.at(-1)!;
  const target: ConfigValue = node instanceof LoaderTag ? node.spec : node;
  if (Array.isArray(target)) {
    const index = Number(last);
    if (!Number.isInteger(index) || index < 0 || index >= target.length) {
      throw new ConfigError(`--${dottedKey}: the list has ${target.length} items, no item ${last}`);
    }
    target[index] = value;
  } else if (typeof target === "object" && target !== null) {
    (target as ConfigMap)[last] = value;
  } else {
    throw new ConfigError(
      `--${dottedKey}: ${parts.slice(0, -1).join(".")} is ${JSON.stringify(target)}, not a mapping`,
    );
  }
}

/** Splits `--a.b value` / `--a.b=value` pairs into overrides; other arguments are an error. */
export function parseOverrides(args: readonly string[]): Array<[string, ConfigValue]> {
  const out: Array<[string, ConfigValue]> = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith("--"))
      throw new ConfigError(`unexpected argument "${arg}" (overrides look like --trainer.max_epochs 2)`);
    const eq = arg.indexOf("=");
    if (eq > 0) {
      out.push([arg.slice(2, eq), parseYamlValue(arg.slice(eq + 1))]);
    } else {
      const value = args[i + 1];
      if (value === undefined) throw new ConfigError(`${arg} needs a value`);
      out.push([arg.slice(2), parseYamlValue(value)]);
      i++;
    }
  }
  return out;
}
