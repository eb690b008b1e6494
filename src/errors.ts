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
