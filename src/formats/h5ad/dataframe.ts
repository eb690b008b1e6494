import { FileFormatError } from "../../errors.js";
import { KNOWN_VERSIONS, UNTAGGED } from "../encodings.js";
import { isNumericArray, toFloat64, toInt32 } from "./convert.js";
import {
  asReference,
  attrValue,
  type H5Dataset,
  type H5File,
  type H5Group,
  H5T,
  isBooleanEnum,
  isDataset,
  isGroup,
  join,
  numericDtype,
  readValue,
  requireDataset,
  stringAttr,
} from "./element.js";
import { H5AD_ENCODINGS } from "./encodings.js";

// obs / var dataframes. Columns are read one at a time, when asked for.
// anndata >= 0.8 tags every column with `encoding-type`; anndata 0.7 writes plain datasets,
// booleans as h5py enums, and categoricals as integer codes whose `categories` attribute is an
// object reference to a dataset under `__categories/` (with an `ordered` attribute).

/** One dataframe column, decoded. Codes of missing categorical values are -1. */
export type DataFrameColumn =
  | { kind: "categorical"; codes: Int32Array; categories: string[] | number[]; ordered: boolean }
  | { kind: "string"; values: string[] }
  /** Numbers of any stored dtype (numpy name in `dtype`); 64-bit integers beyond 2^53 are rounded. */
  | { kind: "numeric"; dtype: string; values: Float64Array }
  /** 0 / 1 per row. */
  | { kind: "boolean"; values: Uint8Array }
  /** `mask[i] = 1` marks a missing value; `values[i]` is then meaningless. */
  | { kind: "nullable-integer"; values: Float64Array; mask: Uint8Array }
  | { kind: "nullable-boolean"; values: Uint8Array; mask: Uint8Array };

export type ColumnKind = DataFrameColumn["kind"];

export class AnnDataFrame {
  /** Column names in the file's `column-order`. */
  readonly columns: readonly string[];
  readonly length: number;
  private readonly indexKey: string;

  constructor(
    private readonly file: string,
    private readonly h5: H5File,
    private readonly group: H5Group,
  ) {
    const { encoding } = H5AD_ENCODINGS.lookup("dataframe", file, group);
    if (encoding !== UNTAGGED && encoding !== "dataframe") {
      throw new FileFormatError(
        `${file}: ${group.path} has encoding-type '${encoding}', expected 'dataframe'`,
      );
    }
    this.indexKey = stringAttr(group, "_index") ?? "_index";
    const order = attrValue(group, "column-order");
    // anndata writes an empty float64 array when there are no columns (h5py cannot store an empty
    // string array); a single column may come back as a bare string.
    this.columns = typeof order === "string" ? [order] : Array.isArray(order) ? order.map(String) : [];
    const index = requireDataset(file, group, this.indexKey);
    this.length = index.shape?.[0] ?? 0;
  }

  /** The row names (`obs_names` / `var_names`). */
  index(): string[] {
    const index = requireDataset(this.file, this.group, this.indexKey);
    return strings(this.file, index);
  }

  column(name: string): DataFrameColumn {
    if (!this.columns.includes(name)) {
      throw new FileFormatError(
        `${this.file}: ${this.group.path} has no column '${name}' (columns: ${this.columns.join(", ")})`,
      );
    }
    const entity = this.group.get(name);
    const path = join(this.group.path, name);
    if (!isGroup(entity) && !isDataset(entity))
      throw new FileFormatError(`${this.file}: column ${path} is missing`);
    const { encoding, decoder } = H5AD_ENCODINGS.lookup("column", this.file, entity);
    if (decoder === undefined) {
      throw new FileFormatError(
        `${this.file}: column ${entity.path} has unsupported encoding-type '${encoding}'`,
      );
    }
    const column = decoder(this.file, this.h5, entity);
    const length = column.kind === "categorical" ? column.codes.length : column.values.length;
    if (length !== this.length) {
      throw new FileFormatError(
        `${this.file}: column ${path} has ${length} rows, the index has ${this.length}`,
      );
    }
    return column;
  }
}

function categoricalGroup(file: string, _h5: H5File, group: H5Group | H5Dataset): DataFrameColumn {
  const codes = requireDataset(file, group as H5Group, "codes");
  const categories = requireDataset(file, group as H5Group, "categories");
  return categorical(file, codes, categories, Boolean(scalar(attrValue(group, "ordered"))));
}

function nullableInteger(file: string, _h5: H5File, group: H5Group | H5Dataset): DataFrameColumn {
  return {
    kind: "nullable-integer",
    values: numbers(file, requireDataset(file, group as H5Group, "values")),
    mask: booleans(file, requireDataset(file, group as H5Group, "mask")),
  };
}

function nullableBoolean(file: string, _h5: H5File, group: H5Group | H5Dataset): DataFrameColumn {
  return {
    kind: "nullable-boolean",
    values: booleans(file, requireDataset(file, group as H5Group, "values")),
    mask: booleans(file, requireDataset(file, group as H5Group, "mask")),
  };
}

/** A column stored as one dataset: strings, booleans, numbers, or anndata 0.7's categorical codes. */
function datasetColumn(file: string, h5: H5File, entity: H5Group | H5Dataset): DataFrameColumn {
  const dataset = entity as H5Dataset;
  const reference = attrValue(dataset, "categories");
  if (reference !== undefined) {
    // anndata 0.7: codes with an object reference to the categories (files that hold references
    // are read by h5wasm: asReference is undefined otherwise).
    const ref = asReference(reference);
    const target = ref === undefined || !("dereference" in h5) ? null : h5.dereference(ref);
    if (!isDataset(target)) {
      throw new FileFormatError(`${file}: column ${dataset.path}: 'categories' does not reference a dataset`);
    }
    return categorical(file, dataset, target, Boolean(scalar(attrValue(target, "ordered"))));
  }
  const metadata = dataset.metadata;
  if (metadata.type === H5T.string) return { kind: "string", values: strings(file, dataset) };
  if (isBooleanEnum(metadata)) return { kind: "boolean", values: booleans(file, dataset) };
  const dtype = numericDtype(metadata);
  if (dtype !== undefined) return { kind: "numeric", dtype, values: numbers(file, dataset) };
  throw new FileFormatError(
    `${file}: column ${dataset.path} has unsupported HDF5 type class ${metadata.type}`,
  );
}

H5AD_ENCODINGS.register("dataframe", "group", "dataframe", KNOWN_VERSIONS.dataframe, true);
H5AD_ENCODINGS.register("column", "group", "categorical", KNOWN_VERSIONS.categorical, categoricalGroup);
H5AD_ENCODINGS.register(
  "column",
  "group",
  "nullable-integer",
  KNOWN_VERSIONS["nullable-integer"],
  nullableInteger,
);
H5AD_ENCODINGS.register(
  "column",
  "group",
  "nullable-boolean",
  KNOWN_VERSIONS["nullable-boolean"],
  nullableBoolean,
);
H5AD_ENCODINGS.register("column", "dataset", "array", KNOWN_VERSIONS.array, datasetColumn);
H5AD_ENCODINGS.register("column", "dataset", "string-array", KNOWN_VERSIONS["string-array"], datasetColumn);
H5AD_ENCODINGS.register("column", "dataset", UNTAGGED, [UNTAGGED], datasetColumn);

function categorical(
  file: string,
  codes: H5Dataset,
  categories: H5Dataset,
  ordered: boolean,
): DataFrameColumn {
  const values = readValue(file, codes);
  if (!isNumericArray(values)) throw new FileFormatError(`${file}: ${codes.path} must hold integer codes`);
  const names =
    categories.metadata.type === H5T.string
      ? strings(file, categories)
      : Array.from(numbers(file, categories));
  return {
    kind: "categorical",
    codes: toInt32(values, `${file}: ${codes.path}`),
    categories: names,
    ordered,
  };
}

function strings(file: string, dataset: H5Dataset): string[] {
  const values = readValue(file, dataset);
  if (typeof values === "string") return [values];
  if (!Array.isArray(values) || !values.every((v) => typeof v === "string")) {
    throw new FileFormatError(`${file}: ${dataset.path} must hold strings`);
  }
  return values as string[];
}

function numbers(file: string, dataset: H5Dataset): Float64Array {
  const values = readValue(file, dataset);
  if (!isNumericArray(values)) throw new FileFormatError(`${file}: ${dataset.path} must hold numbers`);
  return toFloat64(values);
}

function booleans(file: string, dataset: H5Dataset): Uint8Array {
  const values = readValue(file, dataset);
  if (!isNumericArray(values) || values instanceof BigInt64Array || values instanceof BigUint64Array) {
    throw new FileFormatError(`${file}: ${dataset.path} must hold booleans`);
  }
  const out = new Uint8Array(values.length);
  for (let i = 0; i < out.length; i++) out[i] = values[i] ? 1 : 0;
  return out;
}

/** A scalar attribute's value, which h5wasm may wrap in a one-element array. */
function scalar(value: unknown): unknown {
  return Array.isArray(value) || ArrayBuffer.isView(value) ? (value as ArrayLike<unknown>)[0] : value;
}
