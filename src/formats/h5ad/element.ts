import type { Dataset, Group, Metadata, Reference } from "h5wasm/node";
import { FileFormatError } from "../../errors.js";
import { h5wasmLibrary } from "./h5wasm.js";

// Access to the elements of an AnnData file: groups, datasets and the `encoding-type`
// attribute that anndata >= 0.8 puts on every element (0.7 files carry it on some only).

/** HDF5 datatype classes (H5T_class_t) that decide how a dataset is read. */
export const H5T = { integer: 0, float: 1, string: 3, reference: 7, enum: 8 } as const;

export function isGroup(entity: unknown): entity is Group {
  return entity instanceof h5wasmLibrary().Group;
}

export function isDataset(entity: unknown): entity is Dataset {
  return entity instanceof h5wasmLibrary().Dataset;
}

/** A string attribute, or undefined when absent or not a string. */
export function stringAttr(entity: Group | Dataset, name: string): string | undefined {
  if (!(name in entity.attrs)) return undefined;
  const value = entity.attrs[name]!.value;
  if (typeof value === "string") return value;
  if (Array.isArray(value) && value.length === 1 && typeof value[0] === "string") return value[0];
  return undefined;
}

/** The raw value of an attribute, or undefined when absent. */
export function attrValue(entity: Group | Dataset, name: string): unknown {
  return name in entity.attrs ? entity.attrs[name]!.value : undefined;
}

export function encodingType(entity: Group | Dataset): string | undefined {
  return stringAttr(entity, "encoding-type");
}

export function requireDataset(file: string, parent: Group, key: string): Dataset {
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
export function isBooleanEnum(metadata: Metadata): boolean {
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
export function numericDtype(metadata: Metadata): string | undefined {
  if (metadata.type === H5T.float) return `float${metadata.size * 8}`;
  if (metadata.type === H5T.integer) return `${metadata.signed ? "int" : "uint"}${metadata.size * 8}`;
  return undefined;
}

export function datasetShape(dataset: Dataset): number[] {
  return dataset.shape ?? [];
}

/** The object reference held by an attribute (h5wasm wraps a scalar one in a one-element array). */
export function asReference(value: unknown): Reference | undefined {
  const item = Array.isArray(value) ? value[0] : value;
  return item instanceof h5wasmLibrary().Reference ? item : undefined;
}
