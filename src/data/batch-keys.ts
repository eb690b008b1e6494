import { ConfigError } from "../errors.js";
import type { DataFrameColumn } from "../formats/h5ad/dataframe.js";
import type { BatchValue } from "./batch.js";
import type { RowRequest, Rows } from "./collection.js";
import type { CollectionSchema, ObsColumnInfo } from "./collection-schema.js";
import { deferredDense, type Matrix, sparsify } from "./matrix.js";

// batch_keys (upstream's AnnDataField, cellarium/ml/utilities/data.py): each batch key names an
// AnnData attribute (X, layers, obsm, obs, obs_names, var_names), a key within it, and an
// optional convert_fn given by upstream's class path or its bare name. Without convert_fn
// upstream applies np.asarray; our defaults are the typed equivalents:
//   X, layers[key]   as stored (CSR stays CSR: batches keep X sparse until a transform densifies)
// convert_fn densify gives a deferred dense block (matrix.ts: dense values, computed when read).
//   obsm[key]        dense
//   obs[key]         categorical -> the category labels (string[]), string -> string[],
//                    numeric -> Float32Array, boolean -> Uint8Array, nullable -> Float32Array
//                    with NaN where missing
//   obs_names, var_names -> string[]
// Keys whose value is the same for every batch (var_names, get_categories) are computed once.

export interface BatchKeySpec {
  readonly attr: string;
  /**
   * A layers / obsm key or an obs column; or a list of categorical obs columns with convert_fn
   * categories_to_codes, which gives their codes side by side, [n, columns] row-major (upstream's
   * DataFrame.apply(cat.codes), e.g. scVI's categorical_covariate_index_nd).
   */
  readonly key?: string | readonly string[] | null;
  /** `cellarium.ml.utilities.data.<name>` or `<name>`. */
  readonly convert_fn?: string | null;
}

export type BatchKeysConfig = Readonly<Record<string, BatchKeySpec>>;

/** What a loader needs to build batches: the per-cell rows to read and the per-batch constants. */
export interface BatchKeyPlan {
  /** The rows every batch reads (matrices, obs columns, obs_names). */
  readonly request: RowRequest;
  /** Values equal for every batch (var_names, categories). */
  readonly constants: Readonly<Record<string, BatchValue>>;
  /** The per-cell values of one batch from its rows. */
  cellValues(rows: Rows): Record<string, BatchValue>;
}

const MODULE = "cellarium.ml.utilities.data.";
const ATTRS = ["X", "layers", "obsm", "obs", "obs_names", "var_names"] as const;
const CONVERSIONS = [
  "densify",
  "to_torch_sparse_csr",
  "keep_sparse",
  "categories_to_codes",
  "get_categories",
  "series_to_str_list",
] as const;
type Conversion = (typeof CONVERSIONS)[number] | "default";

/** Resolves batch_keys against the collection's schema; errors are ConfigErrors naming the key. */
export function planBatchKeys(config: BatchKeysConfig, schema: CollectionSchema): BatchKeyPlan {
  const matrices = new Set<string>();
  const obsColumns = new Set<string>();
  let obsNames = false;
  const constants: Record<string, BatchValue> = {};
  const perCell: ((rows: Rows) => [string, BatchValue])[] = [];

  for (const [name, spec] of Object.entries(config)) {
    const where = `batch_keys.${name}`;
    if (spec === null || typeof spec !== "object" || typeof spec.attr !== "string") {
      throw new ConfigError(`${where}: expected {attr, key?, convert_fn?}, got ${JSON.stringify(spec)}`);
    }
    const { attr } = spec;
    const key = spec.key ?? undefined;
    const convert = conversion(where, spec.convert_fn ?? undefined);
    if (!(ATTRS as readonly string[]).includes(attr)) {
      throw new ConfigError(`${where}: unknown attr '${attr}' (valid: ${ATTRS.join(", ")})`);
    }
    if (Array.isArray(key)) {
      perCell.push(obsCodeColumns(where, key, attr, convert, schema, obsColumns));
      continue;
    }
    if (key !== undefined && typeof key !== "string") {
      throw new ConfigError(
        `${where}: key must be a name or a list of obs columns, got ${JSON.stringify(key)}`,
      );
    }
    const needsKey = attr === "layers" || attr === "obsm" || attr === "obs";
    if (!needsKey && key !== undefined)
      throw new ConfigError(`${where}: attr '${attr}' takes no key, got '${key}'`);
    const valid =
      attr === "layers"
        ? schema.layerKeys
        : attr === "obsm"
          ? schema.obsmKeys
          : schema.obsColumns.map((c) => c.name);
    if (needsKey && (key === undefined || !valid.includes(key))) {
      const what = key === undefined ? "needs a key" : `has no key '${key}'`;
      throw new ConfigError(`${where}: ${attr} ${what} (valid: ${valid.join(", ") || "none"})`);
    }
    const refuse = (kind: string): never => {
      throw new ConfigError(`${where}: convert_fn '${spec.convert_fn}' does not apply to ${kind}`);
    };

    if (attr === "X" || attr === "layers" || attr === "obsm") {
      const element = attr === "X" ? "X" : `${attr}/${key}`;
      if (
        convert !== "default" &&
        convert !== "densify" &&
        convert !== "to_torch_sparse_csr" &&
        convert !== "keep_sparse"
      ) {
        refuse(`the matrix ${element}`);
      }
      const asIs = convert === "keep_sparse" || (convert === "default" && attr !== "obsm");
      // densify defers: the block is dense to whoever reads its values, CSR to the steps that
      // handle CSR (matrix.ts, deferredDense), so the config's layout does not decide the speed.
      const toMatrix = asIs ? (m: Matrix) => m : convert === "to_torch_sparse_csr" ? sparsify : deferredDense;
      matrices.add(element);
      perCell.push((rows) => [name, toMatrix(rows.matrices.get(element)!)]);
    } else if (attr === "obs") {
      const info = schema.obsColumns.find((c) => c.name === key)!;
      if (convert === "get_categories") {
        if (info.kind !== "categorical") refuse(`obs column '${key}' (${info.kind})`);
        constants[name] = categoriesValue(info);
        continue;
      }
      if (convert === "categories_to_codes" && info.kind !== "categorical") {
        refuse(`obs column '${key}' (${info.kind})`);
      }
      if (convert !== "default" && convert !== "categories_to_codes" && convert !== "series_to_str_list") {
        refuse(`obs column '${key}'`);
      }
      obsColumns.add(info.name);
      perCell.push((rows) => [name, columnValue(rows.obsColumns.get(info.name)!, convert)]);
    } else {
      if (convert !== "default" && convert !== "series_to_str_list") refuse(attr);
      if (attr === "var_names") {
        constants[name] = [...schema.varNames];
      } else {
        obsNames = true;
        perCell.push((rows) => [name, rows.obsNames!]);
      }
    }
  }
  return {
    request: { matrices: [...matrices], obsColumns: [...obsColumns], obsNames },
    constants,
    cellValues: (rows) => Object.fromEntries(perCell.map((value) => value(rows))),
  };
}

/** A list of categorical obs columns: their codes side by side, row-major [n, columns]. */
function obsCodeColumns(
  where: string,
  keys: readonly unknown[],
  attr: string,
  convert: Conversion,
  schema: CollectionSchema,
  obsColumns: Set<string>,
): (rows: Rows) => [string, BatchValue] {
  const name = where.slice("batch_keys.".length);
  if (attr !== "obs" || convert !== "categories_to_codes") {
    throw new ConfigError(
      `${where}: a list of keys needs attr obs and convert_fn categories_to_codes, got attr '${attr}' and convert_fn '${convert}'`,
    );
  }
  if (keys.length === 0) throw new ConfigError(`${where}: the list of obs columns is empty`);
  const columns = keys.map((key) => {
    const info = typeof key === "string" ? schema.obsColumns.find((c) => c.name === key) : undefined;
    if (!info) {
      throw new ConfigError(
        `${where}: obs has no column ${JSON.stringify(key)} (valid: ${schema.obsColumns.map((c) => c.name).join(", ") || "none"})`,
      );
    }
    if (info.kind !== "categorical") {
      throw new ConfigError(
        `${where}: convert_fn categories_to_codes needs categorical columns; obs '${info.name}' is ${info.kind}`,
      );
    }
    obsColumns.add(info.name);
    return info.name;
  });
  return (rows) => {
    const codes = columns.map((column) => (rows.obsColumns.get(column) as { codes: Int32Array }).codes);
    const n = codes[0]!.length;
    const out = new Int32Array(n * columns.length);
    for (let i = 0; i < n; i++)
      for (let d = 0; d < columns.length; d++) out[i * columns.length + d] = codes[d]![i]!;
    return [name, out];
  };
}

function conversion(where: string, convertFn: string | undefined): Conversion {
  if (convertFn === undefined) return "default";
  const bare = convertFn.startsWith(MODULE) ? convertFn.slice(MODULE.length) : convertFn;
  if ((CONVERSIONS as readonly string[]).includes(bare)) return bare as Conversion;
  throw new ConfigError(
    `${where}: unknown convert_fn '${convertFn}' (valid: ${CONVERSIONS.map((c) => MODULE + c).join(", ")}, or the bare names)`,
  );
}

function categoriesValue(info: ObsColumnInfo): BatchValue {
  const categories = info.categories!;
  return typeof categories[0] === "number"
    ? Float64Array.from(categories as number[])
    : [...(categories as string[])];
}

function columnValue(column: DataFrameColumn, convert: Conversion): BatchValue {
  if (column.kind === "categorical") {
    if (convert === "categories_to_codes") return column.codes;
    // A missing value (code -1) reads as pandas' "nan".
    return Array.from(column.codes, (code) => (code < 0 ? "nan" : String(column.categories[code])));
  }
  if (convert === "series_to_str_list") return stringValues(column);
  switch (column.kind) {
    case "string":
      return column.values;
    case "numeric":
      return Float32Array.from(column.values);
    case "boolean":
      return column.values;
    case "nullable-integer":
    case "nullable-boolean": {
      const out = Float32Array.from(column.values);
      for (let i = 0; i < out.length; i++) if (column.mask[i]) out[i] = Number.NaN;
      return out;
    }
  }
}

/** pandas' astype(str) of a non-categorical column. */
function stringValues(column: Exclude<DataFrameColumn, { kind: "categorical" }>): string[] {
  switch (column.kind) {
    case "string":
      return column.values;
    case "numeric":
      return column.dtype.startsWith("float")
        ? Array.from(column.values, (v) => pythonFloat(v, column.dtype === "float32"))
        : Array.from(column.values, String);
    case "boolean":
      return Array.from(column.values, (v) => (v ? "True" : "False"));
    case "nullable-integer":
      return Array.from(column.values, (v, i) => (column.mask[i] ? "<NA>" : String(v)));
    case "nullable-boolean":
      return Array.from(column.values, (v, i) => (column.mask[i] ? "<NA>" : v ? "True" : "False"));
  }
}

/**
 * numpy's str of a float: the shortest digits that round-trip (in float32 for a float32 column),
 * positional with at least one decimal for 1e-4 <= |v| < 1e16, else scientific ("1e-05").
 */
function pythonFloat(v: number, float32: boolean): string {
  if (Number.isNaN(v)) return "nan";
  if (!Number.isFinite(v)) return v > 0 ? "inf" : "-inf";
  let shortest = v;
  if (float32) {
    for (let digits = 1; digits <= 9; digits++) {
      shortest = Number(v.toPrecision(digits));
      if (Math.fround(shortest) === v) break;
    }
  }
  const magnitude = Math.abs(shortest);
  if (magnitude !== 0 && (magnitude < 1e-4 || magnitude >= 1e16)) {
    const [mantissa, exponent] = shortest.toExponential().split("e") as [string, string];
    const power = Number(exponent);
    return `${mantissa}e${power < 0 ? "-" : "+"}${String(Math.abs(power)).padStart(2, "0")}`;
  }
  const text = String(shortest);
  return text.includes(".") ? text : `${text}.0`;
}
