import { SchemaMismatchError } from "../errors.js";
import type { DataFrameColumn } from "../formats/h5ad/dataframe.js";
import { type ArrayAllocator, freshArrays } from "./buffer-pool.js";
import type { CsrMatrix, DenseMatrix, Matrix } from "./matrix.js";

// Row gathering for the sharded collection: a batch's rows come from one or more blocks (a row
// range read from a shard, or the row blocks of a whole shard held in memory), in the batch's
// order. Output row i is row rowOf[i] of block parts[partOf[i]]. Every output is freshly allocated,
// never a view of a part, so a batch can be handed to another thread (transferred) while the parts
// stay cached.

/**
 * Output row i = row rowOf[i] of parts[partOf[i]]; the parts must share format and width. The
 * output's values and column indices come from `allocate`.
 */
export function gatherRows(
  parts: readonly Matrix[],
  partOf: Int32Array,
  rowOf: Int32Array,
  where: string,
  allocate: ArrayAllocator = freshArrays,
): Matrix {
  const first = parts[0]!;
  for (const part of parts) checkCompatible(first, part, where);
  return first.format === "dense"
    ? gatherDense(parts as readonly DenseMatrix[], partOf, rowOf, allocate)
    : gatherCsr(parts as readonly CsrMatrix[], partOf, rowOf, allocate);
}

function checkCompatible(first: Matrix, other: Matrix, where: string): void {
  if (other.format !== first.format || other.nCols !== first.nCols) {
    throw new SchemaMismatchError(
      `${where}: shards store it as ${first.format} with ${first.nCols} columns and as ${other.format} with ${other.nCols} columns; one batch cannot mix them`,
    );
  }
}

function gatherDense(
  parts: readonly DenseMatrix[],
  partOf: Int32Array,
  rowOf: Int32Array,
  allocate: ArrayAllocator,
): DenseMatrix {
  const nCols = parts[0]!.nCols;
  const n = rowOf.length;
  const data = allocate.float32(n * nCols);
  for (let i = 0; i < n; i++) {
    const start = rowOf[i]! * nCols;
    data.set(parts[partOf[i]!]!.data.subarray(start, start + nCols), i * nCols);
  }
  return { format: "dense", nRows: n, nCols, data };
}

function gatherCsr(
  parts: readonly CsrMatrix[],
  partOf: Int32Array,
  rowOf: Int32Array,
  allocate: ArrayAllocator,
): CsrMatrix {
  const n = rowOf.length;
  const indptr = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    const { indptr: ptr } = parts[partOf[i]!]!;
    const r = rowOf[i]!;
    indptr[i + 1] = indptr[i]! + ptr[r + 1]! - ptr[r]!;
  }
  const indices = allocate.int32(indptr[n]!);
  const data = allocate.float32(indptr[n]!);
  for (let i = 0; i < n; i++) {
    const part = parts[partOf[i]!]!;
    const r = rowOf[i]!;
    const start = part.indptr[r]!;
    const end = part.indptr[r + 1]!;
    indices.set(part.indices.subarray(start, end), indptr[i]!);
    data.set(part.data.subarray(start, end), indptr[i]!);
  }
  return { format: "csr", nRows: n, nCols: parts[0]!.nCols, indptr, indices, data };
}

/**
 * Gathers one obs column across shards. Categorical codes are expressed in `categories` (shard
 * 0's): a shard listing the same categories in another order, or a column left out of
 * validation, has its codes mapped through the category names (names absent from shard 0 become
 * -1, missing), as upstream's astype to the reference dtype does.
 */
export function gatherColumn(
  parts: readonly DataFrameColumn[],
  partOf: Int32Array,
  rowOf: Int32Array,
  categories: readonly (string | number)[] | undefined,
  where: string,
): DataFrameColumn {
  const first = parts[0]!;
  for (const part of parts) {
    if (part.kind !== first.kind) {
      throw new SchemaMismatchError(`${where}: shards store it as ${first.kind} and as ${part.kind}`);
    }
  }
  const n = rowOf.length;
  const values = parts.map((part) => (part as { values: ArrayLike<number> }).values);
  const masks = () => parts.map((part) => (part as { mask: Uint8Array }).mask);
  switch (first.kind) {
    case "categorical": {
      const reference = categories ?? first.categories;
      const maps = (parts as readonly Extract<DataFrameColumn, { kind: "categorical" }>[]).map((part) =>
        codeMap(part.categories, reference),
      );
      const codes = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const part = parts[partOf[i]!] as Extract<DataFrameColumn, { kind: "categorical" }>;
        const code = part.codes[rowOf[i]!]!;
        const map = maps[partOf[i]!];
        codes[i] = code < 0 || map === undefined ? code : map[code]!;
      }
      return {
        kind: "categorical",
        codes,
        categories: [...reference] as string[] | number[],
        ordered: first.ordered,
      };
    }
    case "string": {
      const strings = (parts as readonly Extract<DataFrameColumn, { kind: "string" }>[]).map((p) => p.values);
      return { kind: "string", values: gatherStrings(strings, partOf, rowOf) };
    }
    case "numeric":
      return {
        kind: "numeric",
        dtype: first.dtype,
        values: gatherNumbers(values, partOf, rowOf, new Float64Array(n)),
      };
    case "boolean":
      return { kind: "boolean", values: gatherNumbers(values, partOf, rowOf, new Uint8Array(n)) };
    case "nullable-integer":
      return {
        kind: "nullable-integer",
        values: gatherNumbers(values, partOf, rowOf, new Float64Array(n)),
        mask: gatherNumbers(masks(), partOf, rowOf, new Uint8Array(n)),
      };
    case "nullable-boolean":
      return {
        kind: "nullable-boolean",
        values: gatherNumbers(values, partOf, rowOf, new Uint8Array(n)),
        mask: gatherNumbers(masks(), partOf, rowOf, new Uint8Array(n)),
      };
  }
}

/** Old code -> reference code, or undefined when the categories are the reference's, in order. */
function codeMap(
  categories: readonly (string | number)[],
  reference: readonly (string | number)[],
): Int32Array | undefined {
  if (categories.length === reference.length && categories.every((c, k) => c === reference[k])) {
    return undefined;
  }
  const position = new Map(reference.map((c, k) => [c, k]));
  return Int32Array.from(categories, (c) => position.get(c) ?? -1);
}

function gatherNumbers<T extends Float64Array | Uint8Array>(
  sources: readonly ArrayLike<number>[],
  partOf: Int32Array,
  rowOf: Int32Array,
  out: T,
): T {
  for (let i = 0; i < rowOf.length; i++) out[i] = sources[partOf[i]!]![rowOf[i]!]!;
  return out;
}

/** Gathers row names (obs_names) like a string column. */
export function gatherStrings(
  parts: readonly (readonly string[])[],
  partOf: Int32Array,
  rowOf: Int32Array,
): string[] {
  const out = new Array<string>(rowOf.length);
  for (let i = 0; i < rowOf.length; i++) out[i] = parts[partOf[i]!]![rowOf[i]!]!;
  return out;
}
