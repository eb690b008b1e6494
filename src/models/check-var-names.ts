import { SchemaMismatchError } from "../errors.js";

/**
 * Pairs of gene-name arrays already found equal. A loader hands every batch the same var_names_g
 * array, and arrays in batches are never mutated (src/data/batch.ts), so the 20,000-name
 * comparison runs once per pair instead of once per batch.
 */
const verified = new WeakMap<readonly string[], WeakSet<readonly string[]>>();

/**
 * Checks that a batch's genes are exactly the model's, in order (upstream's assert_arrays_equal),
 * naming the first difference.
 */
export function checkVarNames(where: string, expected: readonly string[], actual: readonly string[]): void {
  if (expected === actual || verified.get(expected)?.has(actual)) return;
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
  const equal = verified.get(expected) ?? new WeakSet<readonly string[]>();
  equal.add(actual);
  verified.set(expected, equal);
}
