import assert from "node:assert/strict";
import { test } from "node:test";
import * as api from "../src/index.js";

test("the public API exports exactly the curated names", () => {
  assert.deepEqual(Object.keys(api).sort(), [
    "ArgumentError",
    "CellariumError",
    "CheckpointError",
    "ConfigError",
    "FileFormatError",
    "SchemaMismatchError",
  ]);
});
