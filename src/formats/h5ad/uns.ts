import { KNOWN_VERSIONS, UNTAGGED } from "../encodings.js";
import { isNumericArray, toFloat64, toNumber } from "./convert.js";
import {
  type H5Dataset,
  type H5Group,
  H5T,
  isBooleanEnum,
  isDataset,
  isGroup,
  numericDtype,
  readValue,
} from "./element.js";
import { H5AD_ENCODINGS } from "./encodings.js";

// `uns`: unstructured annotations. The simple entries are decoded: scalars, strings, string and
// boolean arrays, numeric arrays of any rank (as float64 with their shape), and nested groups as
// objects. Anything else (dataframes, sparse matrices, record arrays) is reported, not decoded.

/** A numeric array of any rank, row-major, as float64. */
export interface UnsArray {
  readonly shape: number[];
  readonly data: Float64Array;
}

/** An entry this reader does not decode; `unsupported` says what it is. */
export interface UnsUnsupported {
  readonly unsupported: string;
}

export type UnsValue = number | string | boolean | string[] | boolean[] | UnsArray | UnsUnsupported | UnsDict;

export interface UnsDict {
  [key: string]: UnsValue;
}

export function readUnsGroup(file: string, group: H5Group): UnsDict {
  const out: UnsDict = {};
  for (const key of group.keys()) {
    const entity = group.get(key);
    if (isGroup(entity) || isDataset(entity)) {
      const { encoding, decoder } = H5AD_ENCODINGS.lookup("uns", file, entity);
      out[key] = decoder === undefined ? { unsupported: `encoding-type ${encoding}` } : decoder(file, entity);
    } else {
      out[key] = { unsupported: entity === null ? "unknown object" : entity.constructor.name };
    }
  }
  return out;
}

function readUnsDataset(file: string, dataset: H5Dataset): UnsValue {
  const metadata = dataset.metadata;
  const shape = dataset.shape ?? [];
  const isScalar = shape.length === 0;
  if (metadata.type === H5T.string) {
    const value = readValue(file, dataset);
    if (isScalar) return Array.isArray(value) ? String(value[0]) : String(value);
    if (shape.length !== 1) return { unsupported: `string array of rank ${shape.length}` };
    return (value as unknown[]).map(String);
  }
  if (isBooleanEnum(metadata)) {
    const value = readValue(file, dataset);
    if (isScalar) return Boolean(typeof value === "number" ? value : (value as ArrayLike<number>)[0]);
    if (shape.length !== 1) return { unsupported: `boolean array of rank ${shape.length}` };
    return Array.from(value as Int8Array, Boolean);
  }
  if (numericDtype(metadata) === undefined) return { unsupported: `HDF5 type class ${metadata.type}` };
  const value = readValue(file, dataset);
  if (isScalar) {
    return typeof value === "number" || typeof value === "bigint"
      ? toNumber(value)
      : { unsupported: "numeric scalar" };
  }
  if (!isNumericArray(value)) return { unsupported: `HDF5 type class ${metadata.type}` };
  return { shape, data: toFloat64(value) };
}

const readDict = (file: string, group: H5Group | H5Dataset) => readUnsGroup(file, group as H5Group);
const readDataset = (file: string, dataset: H5Group | H5Dataset) =>
  readUnsDataset(file, dataset as H5Dataset);
H5AD_ENCODINGS.register("uns", "group", "dict", KNOWN_VERSIONS.dict, readDict);
H5AD_ENCODINGS.register("uns", "group", UNTAGGED, [UNTAGGED], readDict);
for (const type of ["array", "string-array", "string", "numeric-scalar"] as const)
  H5AD_ENCODINGS.register("uns", "dataset", type, KNOWN_VERSIONS[type], readDataset);
H5AD_ENCODINGS.register("uns", "dataset", UNTAGGED, [UNTAGGED], readDataset);
