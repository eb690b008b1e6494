// One declaration per config key: its documentation, its default and how its value is read. A
// section of the config (trainer, data, a model's init_args, ...) is a record of declarations;
// parseSection turns the user's mapping into a typed object, the same record prints the default
// config (--print_config) and the help (`cellarium <model> fit --help`).
//
// Values are read as upstream's jsonargparse reads them for a typed argument: an int or float
// argument also takes its decimal string ("10_000", "0.1"), a bool takes "true"/"false", so a config
// dict passed to main(...) with every value quoted (as upstream's tests write them) means the same.

import { quote } from "../../error-values.js";
import { ConfigError } from "../../errors.js";
import { Tensor } from "../../tensor/tensor.js";
import type { BatchCount } from "../../train/trainer.js";

/** A value of a config after its loader tags are evaluated (tensors, frozen pipelines, ...). */
export type Value = unknown;

export interface Key<T> {
  readonly doc: string;
  /** Reads a value that is present and not null. */
  readonly read: (value: Value, where: string) => T;
  /** Absent (or null, unless nullIsValue): `required` is an error; otherwise this value. */
  readonly fallback: T | typeof required;
  /** What a default config shows for the key (its fallback, unless that is not plain data). */
  readonly shown: unknown;
  /** null given is the value null (Python's None meaning something), not "the default". */
  readonly nullIsValue?: boolean;
}

export const required: unique symbol = Symbol("required");

export type Section = Readonly<Record<string, Key<unknown>>>;
export type Parsed<S extends Section> = { -readonly [K in keyof S]: S[K] extends Key<infer T> ? T : never };

type Reader<T> = (value: Value, where: string) => T;

function fail(where: string, expected: string, value: Value): never {
  throw new ConfigError(`${where}: expected ${expected}, got ${shownValue(value)}`, {
    key: where,
    value: typeof value === "object" ? null : (value as string | number | boolean),
  });
}

/** A value as an error message shows it. */
export function shownValue(value: Value): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === "string") return quote(value);
  if (typeof value === "object" && !Array.isArray(value) && value.constructor !== Object)
    return value.constructor.name;
  return JSON.stringify(value) ?? String(value);
}

const INTEGER_TEXT = /^[+-]?\d(?:_?\d)*$/;
const NUMBER_TEXT = /^[+-]?(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d+)?$/;

export const integer: Reader<number> = (value, where) => {
  const n = typeof value === "string" && INTEGER_TEXT.test(value) ? Number(value.replaceAll("_", "")) : value;
  if (typeof n !== "number" || !Number.isSafeInteger(n)) fail(where, "an integer", value);
  return n;
};

export const number: Reader<number> = (value, where) => {
  const n =
    typeof value === "string" && NUMBER_TEXT.test(value)
      ? Number(value.replaceAll("_", ""))
      : typeof value === "string" && /^[+-]?(?:inf|infinity)$/i.test(value)
        ? value.startsWith("-")
          ? Number.NEGATIVE_INFINITY
          : Number.POSITIVE_INFINITY
        : value;
  if (typeof n !== "number" || Number.isNaN(n)) fail(where, "a number", value);
  return n;
};

/** A probability: a number in [0, 1]. */
export const probability: Reader<number> = (value, where) => {
  const n = number(value, where);
  if (!(n >= 0 && n <= 1)) fail(where, "a probability in [0, 1]", value);
  return n;
};

/** A finite number >= 0 (a standard deviation). */
export const nonNegative: Reader<number> = (value, where) => {
  const n = number(value, where);
  if (!(n >= 0 && n < Number.POSITIVE_INFINITY)) fail(where, "a finite number >= 0", value);
  return n;
};

export const boolean: Reader<boolean> = (value, where) => {
  if (typeof value === "boolean") return value;
  if (typeof value === "string" && /^(?:true|false)$/i.test(value)) return value.toLowerCase() === "true";
  fail(where, "true or false", value);
};

/** An integer, or a list of them (upstream's `int | list[int]`). */
export const integers: Reader<number | number[]> = (value, where) => {
  if (!Array.isArray(value)) return integer(value, where);
  if (value.length === 0) fail(where, "an integer or a non-empty list of integers", value);
  return value.map((v, i) => integer(v, `${where}[${i}]`));
};

export const string: Reader<string> = (value, where) => {
  if (typeof value !== "string") fail(where, "a string", value);
  return value;
};

export const strings: Reader<string[]> = (value, where) => {
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value as string[];
  fail(where, "a list of strings", value);
};

export function oneOf<T extends string>(choices: readonly T[]): Reader<T> {
  return (value, where) => {
    if (typeof value !== "string" || !choices.includes(value as T))
      fail(where, `one of ${choices.join(", ")}`, value);
    return value as T;
  };
}

/** A per-gene vector: a list of numbers, a typed array or a 1-d tensor, as float32. */
export const float32: Reader<Float32Array> = (value, where) => {
  const data = value instanceof Tensor ? value.data : value;
  if (data instanceof Float32Array) return data;
  if (data instanceof Float64Array || data instanceof Int32Array) return Float32Array.from(data);
  if (Array.isArray(data) && data.every((v) => typeof v === "number"))
    return Float32Array.from(data as number[]);
  fail(where, "a list of numbers", value);
};

/**
 * Lightning's and upstream's int-or-float sizes (limit_*_batches, val_check_interval, train_size):
 * an int counts (batches, cells), a float in [0, 1] is a fraction. 1 and 1.0 are one number as
 * JavaScript reads YAML, so a plain 1 means "all" (a fraction); "1" as a string counts one.
 */
export const countOrFraction: Reader<BatchCount> = (value, where) => {
  const n = number(value, where);
  const isFloat = typeof value === "string" ? /[.eE]/.test(value) : !Number.isInteger(n) || n === 1;
  if (n < 0 || (isFloat && n > 1)) fail(where, "a count, or a fraction in [0, 1]", value);
  return isFloat ? { fraction: n } : { count: n };
};

/** Any value, unread (a section or a class spec read by its own parser, a loader tag's result). */
export const anything: Reader<Value> = (value) => value;

/** A mapping, its values unread (init_args, optimizer kwargs, batch_keys). */
export const mapping: Reader<Record<string, Value>> = (value, where) => {
  if (typeof value === "object" && value !== null && !Array.isArray(value))
    return value as Record<string, Value>;
  fail(where, "a mapping", value);
};

/** A key with a default (`fallback`), or `required`. */
export function key<T>(read: Reader<T>, fallback: T | typeof required, doc: string): Key<T> {
  return { doc, read, fallback, shown: fallback === required ? null : fallback };
}

/** A key whose null is a value of its own: Python's `x: T | None = fallback`. */
export function nullable<T>(read: Reader<T>, doc: string, fallback: T | null = null): Key<T | null> {
  return { doc, read, fallback, shown: fallback, nullIsValue: true };
}

/**
 * A Lightning or PyTorch key that changes nothing here at any value (DDP bucket sizes, cudnn
 * benchmarking, ...): accepted and ignored, documented as such.
 */
export function ignored(shown: unknown, why: string): Key<null> {
  return { doc: `ignored: ${why}`, read: () => null, fallback: null, shown };
}

/**
 * A key accepted only at values that mean what cellarium-ts does anyway (`accepted`, after the
 * coercions above; null is always accepted); any other value cannot be honoured and is refused
 * with `why`.
 */
export function only(accepted: readonly unknown[], shown: unknown, why: string): Key<null> {
  return {
    doc: `accepted only as ${accepted.map((v) => JSON.stringify(v)).join(" or ")} (${why})`,
    read: (value, where) => {
      const same = (a: unknown) =>
        a === value ||
        (typeof a === "number" &&
          typeof value === "string" &&
          NUMBER_TEXT.test(value) &&
          Number(value) === a) ||
        (typeof a === "boolean" && typeof value === "string" && value.toLowerCase() === String(a));
      if (!accepted.some(same)) {
        throw new ConfigError(
          `${where}: ${shownValue(value)} cannot be honoured by cellarium-ts (${why}); accepted: null, ${accepted.map((v) => JSON.stringify(v)).join(", ")}`,
          { key: where },
        );
      }
      return null;
    },
    fallback: null,
    shown,
  };
}

function isPlainMap(value: Value): value is Record<string, Value> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && value.constructor === Object;
}

/**
 * Reads `map` (absent or null: empty) by `section`. Unknown keys are an error naming the valid
 * ones; `where` is the dotted path of the mapping, for messages.
 */
export function parseSection<S extends Section>(map: Value, section: S, where: string): Parsed<S> {
  if (map !== undefined && map !== null && !isPlainMap(map))
    throw new ConfigError(`${where || "the config"} must be a mapping, got ${shownValue(map)}`, {
      key: where,
    });
  const values = (map ?? {}) as Record<string, Value>;
  const at = (name: string) => (where ? `${where}.${name}` : name);
  for (const name of Object.keys(values)) {
    if (!Object.hasOwn(section, name)) {
      throw new ConfigError(
        `unknown config key ${at(name)}; valid keys of ${where || "the config"}: ${Object.keys(section).join(", ")}`,
        { key: at(name) },
      );
    }
  }
  const out: Record<string, unknown> = {};
  for (const [name, declared] of Object.entries(section)) {
    const value = values[name];
    if (value !== undefined && value !== null) out[name] = declared.read(value, at(name));
    else if (value === null && declared.nullIsValue) out[name] = null;
    else if (declared.fallback === required)
      throw new ConfigError(`${at(name)} is required (${declared.doc})`, { key: at(name) });
    else out[name] = declared.fallback;
  }
  return out as Parsed<S>;
}

/** The section's keys at their defaults, for a default config (required keys show null). */
export function defaults(section: Section): Record<string, unknown> {
  return Object.fromEntries(Object.entries(section).map(([name, declared]) => [name, declared.shown]));
}

/** One line per key: name, default and doc, for --help. */
export function describe(section: Section, indent = "  "): string[] {
  return Object.entries(section).map(([name, declared]) => {
    const shown = declared.fallback === required ? "required" : `default ${JSON.stringify(declared.shown)}`;
    return `${indent}${name} (${shown}): ${declared.doc}`;
  });
}
