// The public API: hand-picked exports, pinned by tests/public-api.test.ts.
export {
  ArgumentError,
  CellariumError,
  CheckpointError,
  ConfigError,
  FileFormatError,
  SchemaMismatchError,
} from "./errors.js";
