// What an AnnData written row by row is made of, whatever the file format: the obs columns' kinds,
// a batch of rows, the checks and conversions of a batch's values, and the chunking of the per-row
// arrays. The .h5ad writer (h5ad/row-writer.ts) and the AnnData-Zarr one (zarr/row-writer.ts) both
// implement AnnDataRowWriter over these.

import type { DenseMatrix } from "../data/matrix.js";
import { ArgumentError } from "../errors.js";
import type { NumericArray } from "./h5ad/convert.js";
import type { UnsInputDict } from "./h5ad/write-elements.js";
import type { DataFrameInput } from "./h5ad/writer.js";

/** An obs column of the file: its kind and, for categoricals, every category up front. */
export type RowColumnSpec =
  | { kind: "categorical"; categories: readonly string[] | readonly number[]; ordered?: boolean }
  | { kind: "numeric"; dtype: NumericDtype }
  | { kind: "boolean" }
  | { kind: "string" };

/** One batch's values of a column: codes (categorical), numbers, 0/1 (boolean) or strings. */
export type RowColumnValues = ArrayLike<number> | readonly string[];

export interface RowBlock {
  readonly index: readonly string[];
  readonly columns: ReadonlyMap<string, RowColumnValues>;
  readonly obsm: Readonly<Record<string, DenseMatrix>>;
}

/** What is written once the rows are in: var (its index only), varm and uns. */
export interface RowWriterRest {
  readonly var: DataFrameInput;
  readonly varm?: Record<string, DenseMatrix>;
  readonly uns?: UnsInputDict;
}

/** An AnnData without X being written row by row, under a temporary name until finish(). */
export interface AnnDataRowWriter {
  readonly path: string;
  /** Rows appended so far. */
  readonly nObs: number;
  /** Appends rows: their names, a value of every column, and their rows of every obsm matrix. */
  appendRows(block: RowBlock): void | Promise<void>;
  /** Writes what is not per row and moves the output to its path. */
  finish(rest: RowWriterRest): Promise<void>;
  /** Removes the temporary output. */
  abort(): Promise<void>;
}

/** Rows per chunk of the per-row arrays (a 64-wide float32 obsm chunk is 1 MiB). */
export const ROW_CHUNK = 4096;

/** Rows per chunk of an obsm matrix `nCols` wide: ROW_CHUNK, fewer for wide ones (about 1 MiB of float32). */
export function obsmChunkRows(nCols: number): number {
  return Math.max(1, Math.min(ROW_CHUNK, Math.floor((1 << 18) / Math.max(1, nCols))));
}

export const TYPED = {
  float32: Float32Array,
  float64: Float64Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  uint8: Uint8Array,
  uint16: Uint16Array,
  uint32: Uint32Array,
} as const;

/** numpy dtypes of numeric columns, as stored (int64 through BigInt64Array). */
export type NumericDtype = keyof typeof TYPED | "int64";

/** The narrowest signed type for codes of `nCategories` categories, as pandas picks. */
export function codesArray(nCategories: number, n: number): Int8Array | Int16Array | Int32Array {
  return nCategories < 128 ? new Int8Array(n) : nCategories < 32768 ? new Int16Array(n) : new Int32Array(n);
}

/** Throws unless `name` can be an obs column ('_index' names the index). */
export function checkColumnNames(path: string, names: Iterable<string>): void {
  for (const name of names) {
    if (name === "_index") throw new ArgumentError(`write ${path}: obs column name '_index' is reserved`);
  }
}

/**
 * Checks a block against the file's columns and the obsm keys of earlier blocks (`obsmKeys`, null
 * before the first rows): every column has a value per row, every obsm matrix a row per row.
 */
export function checkBlock(
  path: string,
  columns: Iterable<string>,
  block: RowBlock,
  obsmKeys: ReadonlySet<string> | null,
): void {
  const n = block.index.length;
  for (const name of columns) {
    const values = block.columns.get(name);
    if (values === undefined || values.length !== n) {
      throw new ArgumentError(
        `write ${path}: obs column '${name}' has ${values?.length ?? "no"} values for ${n} rows`,
      );
    }
  }
  const keys = Object.keys(block.obsm);
  if (obsmKeys !== null && (keys.length !== obsmKeys.size || keys.some((k) => !obsmKeys.has(k)))) {
    throw new ArgumentError(`write ${path}: every block must have the same obsm keys`);
  }
  for (const [key, m] of Object.entries(block.obsm)) {
    if (m.nRows !== n || m.data.length !== m.nRows * m.nCols) {
      throw new ArgumentError(
        `write ${path}: obsm '${key}' is ${m.nRows} x ${m.nCols} with ${m.data.length} values, expected ${n} rows`,
      );
    }
  }
}

/**
 * A non-string column's values in its stored type, categorical codes checked against the
 * categories; `firstRow` (the rows written before) places a bad value in errors.
 */
export function columnArray(
  path: string,
  name: string,
  spec: Exclude<RowColumnSpec, { kind: "string" }>,
  values: RowColumnValues,
  firstRow: number,
): NumericArray {
  const n = values.length;
  if (spec.kind === "categorical") {
    const nCategories = spec.categories.length;
    const codes = codesArray(nCategories, n);
    for (let i = 0; i < n; i++) {
      const code = values[i];
      if (typeof code !== "number" || !Number.isInteger(code) || code < -1 || code >= nCategories) {
        throw new ArgumentError(
          `write ${path}: obs column '${name}' has code ${code} at row ${firstRow + i}, outside [-1, ${nCategories})`,
        );
      }
      codes[i] = code;
    }
    return codes;
  }
  const numbers = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const value = values[i];
    if (typeof value !== "number")
      throw new ArgumentError(`write ${path}: obs column '${name}' has a non-number at row ${firstRow + i}`);
    numbers[i] = spec.kind === "boolean" ? (value ? 1 : 0) : value;
  }
  if (spec.kind === "boolean") return Uint8Array.from(numbers);
  if (spec.dtype === "int64") return BigInt64Array.from(numbers, (v) => BigInt(v));
  return TYPED[spec.dtype].from(numbers);
}
