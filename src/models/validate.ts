import { SchemaMismatchError } from "../errors.js";

/**
 * Checks that a batch's genes are exactly the model's, in order (upstream's assert_arrays_equal),
 * naming the first difference.
 */
export function checkVarNames(where: string, expected: readonly string[], actual: readonly string[]): void {
  if (expected === actual) return;
  if (expected.length !== actual.length) {
    throw new SchemaMismatchError(
      `${where}: the batch has ${actual.length} genes (var_names_g) but the model was built for ${expected.length}`,
    );
  }
  for (let g = 0; g < expected.length; g++) {
    if (expected[g] !== actual[g]) {
      throw new SchemaMismatchError(
        `${where}: var_names_g[${g}] is "${actual[g]}" but the model expects "${expected[g]}"`,
      );
    }
  }
}
