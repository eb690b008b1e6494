// Matching a batch's genes to the genes a transform holds per-gene numbers for. Upstream's
// ZScore and DivideByScale (FilterCompatibilityMixin, utilities/data.get_var_names_g_indices)
// accept a batch whose var_names_g is the transform's schema, or any subset or reordering of it
// (e.g. after a Filter), and pick the per-gene numbers by name; a gene outside the schema is an
// error. We do the same, and name the first offending position.

import type { Matrix } from "../data/matrix.js";
import { SchemaMismatchError } from "../errors.js";

/** Throws unless x_ng has one column per name of var_names_g. */
export function checkColumns(transform: string, x_ng: Matrix, var_names_g: readonly string[]): void {
  if (x_ng.nCols !== var_names_g.length) {
    throw new SchemaMismatchError(
      `${transform}: x_ng has ${x_ng.nCols} columns but var_names_g has ${var_names_g.length} names`,
    );
  }
}

/** A transform's gene schema with a lazily built name -> position index. */
export class GeneSchema {
  private index: Map<string, number> | undefined;

  constructor(
    readonly transform: string,
    readonly var_names_g: readonly string[],
  ) {}

  /**
   * For each name of `batchNames`, its position in the schema; `undefined` when the batch's
   * names are the schema itself, in order (the common case: per-gene numbers apply as they are).
   */
  positions(batchNames: readonly string[]): Int32Array | undefined {
    const schema = this.var_names_g;
    if (batchNames.length === schema.length && batchNames.every((name, i) => name === schema[i])) {
      return undefined;
    }
    if (this.index === undefined) {
      // Later duplicates win, as in upstream's dict comprehension.
      this.index = new Map(schema.map((name, i) => [name, i]));
    }
    const out = new Int32Array(batchNames.length);
    for (let i = 0; i < batchNames.length; i++) {
      const position = this.index.get(batchNames[i]!);
      if (position === undefined) {
        const expected = i < schema.length ? JSON.stringify(schema[i]) : "no gene";
        throw new SchemaMismatchError(
          `${this.transform}: var_names_g[${i}] is ${JSON.stringify(batchNames[i])}, not one of the ` +
            `transform's ${schema.length} genes (expected ${expected} at index ${i})`,
        );
      }
      out[i] = position;
    }
    return out;
  }
}

/** `values_g` at `positions` (from GeneSchema.positions); `values_g` itself when undefined. */
export function pick(values_g: Float32Array, positions: Int32Array | undefined): Float32Array {
  if (positions === undefined) return values_g;
  const out = new Float32Array(positions.length);
  for (let i = 0; i < positions.length; i++) out[i] = values_g[positions[i]!]!;
  return out;
}
