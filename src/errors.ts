// Typed errors. Each message is one line that names the file, key or argument and the value
// received, so the command line can print it as is, without a stack trace. The same facts are
// also fields (file, key, value), for programs that handle errors rather than print them.

/** Machine-readable facts of an error, beside the standard `cause`. */
export interface ErrorFields extends ErrorOptions {
  /** The file (or URL) the error is about. */
  readonly file?: string;
  /** The config key, argument, element or field within the file. */
  readonly key?: string;
  /** The offending value, as received. */
  readonly value?: unknown;
}

/**
 * The base of every error the library throws on purpose: catch it to tell the library's refusals
 * (bad arguments, unreadable files, data that do not fit the model) from bugs. Subclasses say which
 * kind; `file`, `key` and `value` carry the facts the one-line message names.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ArgumentError, CellariumError, IncrementalPCA } from "cellarium-ts";
 *
 * try {
 *   new IncrementalPCA({ var_names_g: ["g0", "g1"], n_components: 3 });
 *   assert.fail("more components than genes must be refused");
 * } catch (error) {
 *   assert.ok(error instanceof ArgumentError && error instanceof CellariumError);
 *   assert.match(error.message, /n_components/);
 * }
 * ```
 */
export class CellariumError extends Error {
  override name = "CellariumError";
  readonly file?: string;
  readonly key?: string;
  readonly value?: unknown;

  constructor(message: string, fields: ErrorFields = {}) {
    super(message, fields.cause === undefined ? undefined : { cause: fields.cause });
    if (fields.file !== undefined) this.file = fields.file;
    if (fields.key !== undefined) this.key = fields.key;
    if (fields.value !== undefined) this.value = fields.value;
  }
}

/** A function or constructor argument with an invalid value (shape, dtype, range). */
export class ArgumentError extends CellariumError {
  override name = "ArgumentError";
}

/** A file that is missing, unreadable, truncated, or not in the expected format. */
export class FileFormatError extends CellariumError {
  override name = "FileFormatError";
}

/** Data that disagree with a schema: var_names_g, obs columns, categories, shard sizes. */
export class SchemaMismatchError extends CellariumError {
  override name = "SchemaMismatchError";
}

/** A configuration key or value that is unknown or invalid. */
export class ConfigError extends CellariumError {
  override name = "ConfigError";
}

/** A checkpoint that cannot be loaded into the requested model or pipeline, or resumed with this config. */
export class CheckpointError extends CellariumError {
  override name = "CheckpointError";
}

/**
 * A value a computation cannot take: NaN or infinity in X, a negative value where counts are
 * required, a NaN in an obs column used as a number. `row` and `col` locate it in the batch (or
 * block) it was found in, when known, so a caller that knows where the rows came from can name
 * the cell (withPlace).
 */
export class DataValueError extends CellariumError {
  override name = "DataValueError";
  readonly row?: number;
  readonly col?: number;

  constructor(message: string, fields: ErrorFields & { readonly row?: number; readonly col?: number } = {}) {
    super(message, fields);
    if (fields.row !== undefined) this.row = fields.row;
    if (fields.col !== undefined) this.col = fields.col;
  }
}

/** A download that failed or delivered something other than the file: status, length, validators, timeouts. */
export class DownloadError extends CellariumError {
  override name = "DownloadError";
}

/** An output that cannot be written: a missing or read-only directory, a full disk. */
export class OutputError extends CellariumError {
  override name = "OutputError";
}

const ERRORS: Record<string, new (message: string) => CellariumError> = {
  ArgumentError,
  CellariumError,
  CheckpointError,
  ConfigError,
  DataValueError,
  DownloadError,
  FileFormatError,
  OutputError,
  SchemaMismatchError,
};

/**
 * An error as it crosses a thread boundary: its class name and message, and for a system error
 * (ENOENT, EACCES, ...) Node's code, syscall and path, which say how the command line reports it.
 */
export interface ErrorReport {
  readonly name: string;
  readonly message: string;
  readonly code?: string;
  readonly syscall?: string;
  readonly path?: string;
}

export function reportError(error: unknown): ErrorReport {
  const { name, message } = error instanceof Error ? error : new Error(String(error));
  const { code, syscall, path } = error as NodeJS.ErrnoException;
  return {
    name,
    message,
    ...(typeof code === "string" && { code }),
    ...(typeof syscall === "string" && { syscall }),
    ...(typeof path === "string" && { path }),
  };
}

/**
 * The error an ErrorReport describes: the same class for the project's errors (other names give a
 * plain Error carrying the name), with a system error's fields.
 */
export function errorFromReport(report: ErrorReport): Error {
  const { name, message, code, syscall, path } = report;
  const Type = ERRORS[name];
  const error = Type !== undefined ? new Type(message) : Object.assign(new Error(message), { name });
  return Object.assign(error, {
    ...(code !== undefined && { code }),
    ...(syscall !== undefined && { syscall }),
    ...(path !== undefined && { path }),
  });
}
