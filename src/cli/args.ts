// Reading constructor arguments from a config (upstream's init_args names) with errors that name
// the config key, the expected kind and the value received.

import { ConfigError } from "../errors.js";
import { Tensor } from "../tensor/tensor.js";

export type ArgValue = unknown;
export type InitArgs = Readonly<Record<string, ArgValue>>;

export class ArgReader {
  private readonly used = new Set<string>();

  /** `where` is the dotted config path of the init_args mapping, for messages. */
  constructor(
    readonly args: InitArgs,
    readonly where: string,
  ) {}

  private take(key: string): ArgValue {
    this.used.add(key);
    return this.args[key];
  }

  private fail(key: string, expected: string, value: ArgValue): never {
    const shown =
      typeof value === "object" && value !== null && !Array.isArray(value)
        ? value.constructor.name
        : JSON.stringify(value);
    throw new ConfigError(`${this.where}.${key}: expected ${expected}, got ${shown}`);
  }

  number(key: string, fallback?: number): number {
    const value = this.take(key) ?? fallback;
    if (typeof value !== "number" || Number.isNaN(value)) this.fail(key, "a number", value);
    return value;
  }

  integer(key: string, fallback?: number): number {
    const value = this.number(key, fallback);
    if (!Number.isInteger(value)) this.fail(key, "an integer", value);
    return value;
  }

  boolean(key: string, fallback?: boolean): boolean {
    const value = this.take(key) ?? fallback;
    if (typeof value !== "boolean") this.fail(key, "true or false", value);
    return value;
  }

  string(key: string, fallback?: string): string {
    const value = this.take(key) ?? fallback;
    if (typeof value !== "string") this.fail(key, "a string", value);
    return value;
  }

  optionalString(key: string, fallback: string | null): string | null {
    const present = key in this.args;
    const value = present ? this.take(key) : fallback;
    if (value !== null && typeof value !== "string") this.fail(key, "a string or null", value);
    return value;
  }

  oneOf<T extends string>(key: string, choices: readonly T[], fallback?: T): T {
    const value = this.take(key) ?? fallback;
    if (typeof value !== "string" || !choices.includes(value as T))
      this.fail(key, `one of ${choices.join(", ")}`, value);
    return value as T;
  }

  strings(key: string): string[] {
    const value = this.take(key);
    if (Array.isArray(value) && value.every((v) => typeof v === "string")) return value as string[];
    this.fail(key, "a list of strings", value);
  }

  /** A per-gene vector: a list of numbers, a typed array or a 1-d tensor, as float32. */
  float32(key: string): Float32Array {
    const value = this.take(key);
    const data = value instanceof Tensor ? value.data : value;
    if (data instanceof Float32Array) return data;
    if (data instanceof Float64Array || data instanceof Int32Array) return Float32Array.from(data);
    if (Array.isArray(data) && data.every((v) => typeof v === "number"))
      return Float32Array.from(data as number[]);
    this.fail(key, "a list of numbers", value);
  }

  /** float32(key), or null when the key is absent or null. */
  /** An argument without a default: undefined when absent or null (Python's None), else read by `read`. */
  optional<T>(key: string, read: (this: ArgReader, key: string) => T): T | undefined {
    const value = this.take(key);
    return value === null || value === undefined ? undefined : read.call(this, key);
  }

  /** Throws for any argument that was not read: a misspelt key must not be ignored. */
  done(accepted: readonly string[] = []): void {
    for (const key of Object.keys(this.args)) {
      if (!this.used.has(key) && !accepted.includes(key)) {
        throw new ConfigError(
          `${this.where}: unknown argument "${key}"; accepted: ${[...this.used, ...accepted].join(", ")}`,
        );
      }
    }
  }
}
