// Typed errors. Each message is one line that names the file, key or argument and the value
// received, so the command line can print it as is, without a stack trace.

export class CellariumError extends Error {
  override name = "CellariumError";
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

/** A checkpoint that cannot be loaded into the requested model or pipeline. */
export class CheckpointError extends CellariumError {
  override name = "CheckpointError";
}

const ERRORS: Record<string, new (message: string) => CellariumError> = {
  ArgumentError,
  CellariumError,
  CheckpointError,
  ConfigError,
  FileFormatError,
  SchemaMismatchError,
};

/**
 * An error that crossed a thread boundary as its class name and message, rebuilt as the same
 * class (other names give a plain Error carrying the name).
 */
export function errorFromName(name: string, message: string): Error {
  const Type = ERRORS[name];
  if (Type !== undefined) return new Type(message);
  const error = new Error(message);
  error.name = name;
  return error;
}
