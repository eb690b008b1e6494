import type { Dataset, File, Group, Reference } from "h5wasm/node";
import { FileFormatError } from "../../errors.js";
import { DirectDataset, DirectGroup } from "../hdf5/tree.js";
import {
  h5wasmLibrary,
  h5wasmLoaded,
  readSlice as h5wasmSlice,
  storedAs as h5wasmStoredAs,
  readValue as h5wasmValue,
} from "./h5wasm.js";

// Access to the elements of an AnnData file: groups, datasets and the `encoding-type`
// attribute that anndata >= 0.8 puts on every element (0.7 files carry it on some only). A file
// is read either by the direct reader (../hdf5/tree.ts, for the layouts it takes) or by h5wasm;
// both give groups and datasets with the same members.

/** HDF5 datatype classes (H5T_class_t) that decide how a dataset is read. */
export const H5T = { integer: 0, float: 1, string: 3, reference: 7, enum: 8 } as const;

/** An open file's root: h5wasm's File, or the direct reader's root group. */
export type H5File = File | DirectGroup;
export type H5Group = Group | DirectGroup;
export type H5Dataset = Dataset | DirectDataset;
export type H5Metadata = H5Dataset["metadata"];

export function isGroup(entity: unknown): entity is H5Group {
  return entity instanceof DirectGroup || (h5wasmLoaded() && entity instanceof h5wasmLibrary().Group);
}

export function isDataset(entity: unknown): entity is H5Dataset {
  return entity instanceof DirectDataset || (h5wasmLoaded() && entity instanceof h5wasmLibrary().Dataset);
}

/** A string attribute, or undefined when absent or not a string. */
export function stringAttr(entity: H5Group | H5Dataset, name: string): string | undefined {
  if (!(name in entity.attrs)) return undefined;
  const value = entity.attrs[name]!.value;
  if (typeof value === "string") return value;
  if (Array.isArray(value) && value.length === 1 && typeof value[0] === "string") return value[0];
  return undefined;
}

/** The raw value of an attribute, or undefined when absent. */
export function attrValue(entity: H5Group | H5Dataset, name: string): unknown {
  return name in entity.attrs ? entity.attrs[name]!.value : undefined;
}

/** Reads a whole dataset (small ones only: indexes, dataframe columns, uns). */
export function readValue(file: string, dataset: H5Dataset): unknown {
  return dataset instanceof DirectDataset ? dataset.value : h5wasmValue(file, dataset);
}

/** Reads a selection: a [start, end) range per dimension, [] for all of it (rows only for the direct reader). */
export function readSlice(file: string, dataset: H5Dataset, ranges: ([number, number] | [])[]): unknown {
  return dataset instanceof DirectDataset ? dataset.slice(ranges) : h5wasmSlice(file, dataset, ranges);
}

/** The typed array a numeric dataset's stored elements read into unconverted: float32, int32, or undefined for others. */
export function storedAs(dataset: H5Dataset): "float32" | "int32" | undefined {
  return dataset instanceof DirectDataset ? (dataset.storage.type ?? undefined) : h5wasmStoredAs(dataset);
}

export function encodingType(entity: H5Group | H5Dataset): string | undefined {
  return stringAttr(entity, "encoding-type");
}

export function requireDataset(file: string, parent: H5Group, key: string): H5Dataset {
  const entity = parent.get(key);
  if (!isDataset(entity)) {
    const found = entity === null ? "missing" : `a ${entity.constructor.name}`;
    throw new FileFormatError(`${file}: ${join(parent.path, key)} must be an HDF5 dataset, found ${found}`);
  }
  return entity;
}

export function join(path: string, key: string): string {
  return path === "/" ? `/${key}` : `${path}/${key}`;
}

/** True for h5py's boolean: an 8-bit enum {FALSE: 0, TRUE: 1}. */
export function isBooleanEnum(metadata: H5Metadata): boolean {
  const members = metadata.enum_type?.members;
  return (
    metadata.type === H5T.enum &&
    members !== undefined &&
    Object.keys(members).length === 2 &&
    members["FALSE"] === 0 &&
    members["TRUE"] === 1
  );
}

/** numpy's name for a numeric HDF5 type ("float32", "int64", "uint8"), or undefined for others. */
export function numericDtype(metadata: H5Metadata): string | undefined {
  if (metadata.type === H5T.float) return `float${metadata.size * 8}`;
  if (metadata.type === H5T.integer) return `${metadata.signed ? "int" : "uint"}${metadata.size * 8}`;
  return undefined;
}

export function datasetShape(dataset: H5Dataset): number[] {
  return dataset.shape ?? [];
}

/** The object reference held by an attribute (h5wasm wraps a scalar one in a one-element array). */
export function asReference(value: unknown): Reference | undefined {
  // Only h5wasm reads references (the direct reader leaves files holding them to it).
  if (!h5wasmLoaded()) return undefined;
  const item = Array.isArray(value) ? value[0] : value;
  return item instanceof h5wasmLibrary().Reference ? item : undefined;
}
