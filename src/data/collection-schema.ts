import { ArgumentError, SchemaMismatchError } from "../errors.js";
import type { ColumnKind, DataFrameColumn } from "../formats/h5ad/dataframe.js";
import type { AnnDataFile } from "../formats/h5ad/reader.js";

// The schema every shard of a collection must share, taken from shard 0 (upstream's
// AnnDataSchema, cellarium/ml/data/schema.py): var_names in order, the obs columns (names in
// order, kinds, categories), the keys of layers and obsm. Upstream also compares var columns and
// varm/varp; we do not read them. We add the storage of X (sparse or dense), which one batch
// cannot mix.

export interface ObsColumnInfo {
  readonly name: string;
  readonly kind: ColumnKind;
  /** numpy dtype of a numeric column. */
  readonly dtype?: string;
  readonly categories?: readonly (string | number)[];
  readonly ordered?: boolean;
}

export interface CollectionSchema {
  /** Shard 0's file name (as given, before download), named in every mismatch. */
  readonly reference: string;
  readonly varNames: readonly string[];
  /** All obs columns of shard 0, in its column order. */
  readonly obsColumns: readonly ObsColumnInfo[];
  /** The columns every shard must share (upstream's obs_columns_to_validate; default all). */
  readonly validatedObsColumns: readonly string[];
  readonly xFormat: "csr" | "dense";
  readonly layerKeys: readonly string[];
  readonly obsmKeys: readonly string[];
}

/** Reads the schema from shard 0; also returns the obs columns it decoded, for the shard's cache. */
export function readSchema(
  file: AnnDataFile,
  name: string,
  obsColumnsToValidate: readonly string[] | undefined,
): { schema: CollectionSchema; columns: Map<string, DataFrameColumn> } {
  const columns = new Map<string, DataFrameColumn>();
  for (const column of file.obs.columns) columns.set(column, file.obs.column(column));
  const validated = obsColumnsToValidate ?? file.obs.columns;
  const missing = validated.filter((c) => !columns.has(c));
  if (missing.length > 0) {
    throw new ArgumentError(
      `obsColumnsToValidate: ${name} (shard 0) has no obs column ${missing.map((c) => `'${c}'`).join(", ")} (columns: ${file.obs.columns.join(", ") || "none"})`,
    );
  }
  const schema: CollectionSchema = {
    reference: name,
    varNames: file.varNames(),
    obsColumns: [...columns].map(([column, value]) => columnInfo(column, value)),
    validatedObsColumns: [...validated],
    xFormat: file.xEncoding === "array" ? "dense" : "csr",
    layerKeys: file.layerKeys(),
    obsmKeys: file.obsmKeys(),
  };
  return { schema, columns };
}

function columnInfo(name: string, column: DataFrameColumn): ObsColumnInfo {
  if (column.kind === "categorical") {
    return { name, kind: column.kind, categories: column.categories, ordered: column.ordered };
  }
  if (column.kind === "numeric") return { name, kind: column.kind, dtype: column.dtype };
  return { name, kind: column.kind };
}

/**
 * Checks shard `name` against the schema; returns the validated obs columns it decoded. Throws a
 * SchemaMismatchError naming the shard and the first difference.
 */
export function validateShard(
  schema: CollectionSchema,
  file: AnnDataFile,
  name: string,
): Map<string, DataFrameColumn> {
  const fail = (what: string): never => {
    throw new SchemaMismatchError(`${name}: ${what} (shard 0 is ${schema.reference})`);
  };
  const varNames = file.varNames();
  const shared = Math.min(varNames.length, schema.varNames.length);
  for (let g = 0; g < shared; g++) {
    if (varNames[g] !== schema.varNames[g]) {
      fail(
        `var_names differ from shard 0's at index ${g}: expected '${schema.varNames[g]}', got '${varNames[g]}'`,
      );
    }
  }
  if (varNames.length !== schema.varNames.length) {
    fail(`has ${varNames.length} var_names, shard 0 has ${schema.varNames.length}`);
  }
  const xFormat = file.xEncoding === "array" ? "dense" : "csr";
  if (xFormat !== schema.xFormat) fail(`X is stored ${xFormat}, shard 0's is ${schema.xFormat}`);
  checkKeys("layers", file.layerKeys(), schema.layerKeys, fail);
  checkKeys("obsm", file.obsmKeys(), schema.obsmKeys, fail);

  const all = schema.obsColumns.map((c) => c.name);
  if (schema.validatedObsColumns.length === all.length) {
    // Every column is validated: the same names in the same order, as upstream's Index.equals.
    checkKeys("obs columns", file.obs.columns, all, fail);
    if (file.obs.columns.some((c, k) => c !== all[k])) {
      fail(
        `obs columns are in the order [${file.obs.columns.join(", ")}], shard 0's are [${all.join(", ")}]`,
      );
    }
  }
  const columns = new Map<string, DataFrameColumn>();
  for (const info of schema.obsColumns) {
    if (!schema.validatedObsColumns.includes(info.name)) continue;
    if (!file.obs.columns.includes(info.name)) fail(`has no obs column '${info.name}'`);
    const column = file.obs.column(info.name);
    columns.set(info.name, column);
    const got = columnInfo(info.name, column);
    const kind = (c: ObsColumnInfo) => (c.dtype === undefined ? c.kind : `${c.kind} (${c.dtype})`);
    if (kind(got) !== kind(info))
      fail(`obs column '${info.name}' is ${kind(got)}, shard 0's is ${kind(info)}`);
    if (got.kind === "categorical") checkCategories(info, got, fail);
  }
  return columns;
}

function checkKeys(
  what: string,
  got: readonly string[],
  expected: readonly string[],
  fail: (what: string) => never,
): void {
  const { missing, extra } = setDifference(expected, got);
  if (missing.length > 0 || extra.length > 0) {
    fail(`${what} differ from shard 0's: missing [${missing.join(", ")}], extra [${extra.join(", ")}]`);
  }
}

function setDifference<T>(expected: readonly T[], got: readonly T[]): { missing: T[]; extra: T[] } {
  const gotSet = new Set(got);
  const expectedSet = new Set(expected);
  return { missing: expected.filter((k) => !gotSet.has(k)), extra: got.filter((k) => !expectedSet.has(k)) };
}

/**
 * pandas compares unordered categorical dtypes as sets (upstream then recodes each shard to the
 * reference categories) and ordered ones as sequences.
 */
function checkCategories(expected: ObsColumnInfo, got: ObsColumnInfo, fail: (what: string) => never): void {
  const want = expected.categories!;
  const have = got.categories!;
  const where = `obs column '${expected.name}'`;
  if (got.ordered !== expected.ordered) {
    fail(`${where} is ${got.ordered ? "" : "not "}ordered, shard 0's is${expected.ordered ? "" : " not"}`);
  }
  const { missing, extra } = setDifference(want, have);
  if (missing.length > 0 || extra.length > 0) {
    fail(
      `${where} categories differ from shard 0's: missing [${missing.join(", ")}], extra [${extra.join(", ")}]`,
    );
  }
  if (expected.ordered && have.some((c, k) => c !== want[k])) {
    fail(
      `${where} (ordered) lists its categories as [${have.join(", ")}], shard 0's as [${want.join(", ")}]`,
    );
  }
}
