import assert from "node:assert/strict";
import { test } from "node:test";
import { SchemaMismatchError } from "../../src/errors.js";
import { checkVarNames } from "../../src/models/check-var-names.js";

test("checkVarNames accepts equal lists and names the first difference or the length", () => {
  checkVarNames("M", ["a", "b"], ["a", "b"]);
  assert.throws(
    () => checkVarNames("OnePassMeanVarStd", ["a", "b", "c"], ["a", "x", "y"]),
    (e: Error) =>
      e instanceof SchemaMismatchError &&
      e.message === 'OnePassMeanVarStd: var_names_g[1] is "x" but the model expects "b"',
  );
  assert.throws(
    () => checkVarNames("M", ["a"], ["a", "b"]),
    /the batch has 2 genes \(var_names_g\) but the model was built for 1/,
  );
});
