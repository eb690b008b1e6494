import { statfsSync } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import type { Dataset, File, Group } from "h5wasm/node";
import { outputError, temporarySibling } from "../../data/atomic-file.js";
import type { DenseMatrix } from "../../data/matrix.js";
import { ArgumentError, CellariumError, OutputError } from "../../errors.js";
import { encodingAttrs, KNOWN_VERSIONS, type KnownEncoding, type KnownVersion } from "../encodings.js";
import type { NumericArray } from "./convert.js";
import { createHdf5, hdf5Reason } from "./h5wasm.js";
import type { UnsArray } from "./uns.js";

// The elements of an .h5ad as anndata >= 0.8 writes them (encoding-type / encoding-version on each),
// shared by the whole-file writer (writer.ts) and the row-streaming one (row-writer.ts).

// Dataframes use anndata's 0.1.0 layout, where a categorical column is its codes plus an object
// reference to `__categories/<name>` whose `ordered` attribute is read with bool(): the 0.2.0
// categorical group passes its `ordered` attribute to pandas as is, which then must be a numpy
// bool, i.e. an HDF5 enum that h5wasm cannot create. Every anndata from 0.7 on reads 0.1.0. Every
// other element is written at anndata's current version (../encodings.ts, the readers' table).
export const H5AD_DATAFRAME_VERSION = KNOWN_VERSIONS.dataframe[0];

export type UnsInput = number | string | boolean | readonly string[] | NumericArray | UnsArray | UnsInputDict;

export interface UnsInputDict {
  [key: string]: UnsInput;
}

/** Opens a new HDF5 file at a temporary sibling of `path`, tagged as an AnnData. */
export async function createTemporaryAnnData(path: string): Promise<{ tmp: string; h5: File }> {
  const tmp = temporarySibling(path);
  let h5: File;
  try {
    h5 = await createHdf5(tmp);
    setEncoding(h5, "anndata");
  } catch (error) {
    await rm(tmp, { force: true });
    throw wrap(path, "the file", error);
  }
  return { tmp, h5 };
}

/** Closes the file and moves it to `path`; on failure removes it. */
export async function closeAndRename(h5: File, tmp: string, path: string): Promise<void> {
  try {
    // Closing flushes HDF5's cached metadata: a full disk often shows only here.
    h5.close();
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw wrap(path, "the file", error);
  }
}

/** Closes a file being given up and removes it. */
export async function discard(h5: File, tmp: string): Promise<void> {
  closeQuietly(h5);
  await rm(tmp, { force: true });
}

/** Writes a dict group (obsm, varm) of dense matrices with `nRows` rows each. */
export function writeMatrices(
  path: string,
  h5: File,
  key: string,
  matrices: Readonly<Record<string, DenseMatrix>>,
  nRows: number,
): void {
  const group = dictGroup(h5, key);
  for (const [name, m] of Object.entries(matrices)) {
    if (m.nRows !== nRows || m.data.length !== m.nRows * m.nCols) {
      throw new ArgumentError(
        `writeH5ad ${path}: ${key} '${name}' is ${m.nRows} x ${m.nCols} with ${m.data.length} values, expected ${nRows} rows`,
      );
    }
    setEncoding(group.create_dataset({ name, data: m.data, shape: [m.nRows, m.nCols] }), "array");
  }
}

/**
 * Writes `categories` to `<frame>/__categories/<name>` and points the codes dataset at them
 * (anndata 0.1.0 dataframe layout).
 */
export function linkCategories(
  frame: Group,
  name: string,
  codes: Dataset,
  categories: readonly string[] | readonly number[],
  ordered: boolean,
): void {
  const holder = (frame.get("__categories") ?? frame.create_group("__categories")) as Group;
  if (categories.every((c) => typeof c === "string")) writeStrings(holder, name, categories as string[]);
  else setEncoding(holder.create_dataset({ name, data: Float64Array.from(categories as number[]) }), "array");
  const dataset = holder.get(name) as Dataset;
  dataset.create_attribute("ordered", new Uint8Array([ordered ? 1 : 0]), []);
  codes.create_attribute("categories", dataset.create_reference(), []);
}

/** Writes a dataframe group's attributes (index key, column order) and its index. */
export function startFrame(
  parent: Group,
  key: string,
  index: readonly string[],
  columns: readonly string[],
): Group {
  const group = parent.create_group(key);
  setEncoding(group, "dataframe", H5AD_DATAFRAME_VERSION);
  group.create_attribute("_index", "_index");
  // An empty string array cannot be an HDF5 attribute here; anndata writes an empty float64 one.
  group.create_attribute("column-order", columns.length > 0 ? [...columns] : new Float64Array(0));
  writeStrings(group, "_index", index);
  return group;
}

export function writeStrings(group: Group, name: string, values: readonly string[]): void {
  setEncoding(
    group.create_dataset({ name, data: [...values], dtype: "S", shape: [values.length] }),
    "string-array",
  );
}

export function writeUns(path: string, group: Group, dict: UnsInputDict): void {
  for (const [key, value] of Object.entries(dict)) {
    if (typeof value === "string") {
      setEncoding(group.create_dataset({ name: key, data: value, shape: [] }), "string");
    } else if (typeof value === "number") {
      const data = Number.isSafeInteger(value)
        ? new BigInt64Array([BigInt(value)])
        : new Float64Array([value]);
      setEncoding(group.create_dataset({ name: key, data, shape: [] }), "numeric-scalar");
    } else if (typeof value === "boolean") {
      setEncoding(
        group.create_dataset({ name: key, data: new Uint8Array([value ? 1 : 0]), shape: [] }),
        "numeric-scalar",
      );
    } else if (Array.isArray(value)) {
      if (!value.every((v) => typeof v === "string")) {
        throw new ArgumentError(
          `writeH5ad ${path}: uns '${key}' must be an array of strings or a typed array`,
        );
      }
      writeStrings(group, key, value as string[]);
    } else if (ArrayBuffer.isView(value)) {
      setEncoding(group.create_dataset({ name: key, data: value }), "array");
    } else if (isUnsArray(value)) {
      setEncoding(group.create_dataset({ name: key, data: value.data, shape: value.shape }), "array");
    } else {
      const child = group.create_group(key);
      setEncoding(child, "dict");
      writeUns(path, child, value as UnsInputDict);
    }
  }
}

export function isUnsArray(value: object): value is UnsArray {
  return (
    "shape" in value && "data" in value && Array.isArray(value.shape) && value.data instanceof Float64Array
  );
}

export function dictGroup(h5: File, key: string): Group {
  const group = h5.create_group(key);
  setEncoding(group, "dict");
  return group;
}

/** Tags `entity` as anndata does: `type` at `version`, by default anndata's current one. */
export function setEncoding<T extends KnownEncoding>(
  entity: Group | Dataset,
  type: T,
  version?: KnownVersion<T>,
): void {
  const attrs = encodingAttrs(type, version);
  entity.create_attribute("encoding-type", attrs["encoding-type"]);
  entity.create_attribute("encoding-version", attrs["encoding-version"]);
}

/** Closes a file being given up; its own failure (the flush of a file on a full disk) changes nothing. */
export function closeQuietly(h5: File): void {
  try {
    h5.close();
  } catch {
    // The temporary file is removed next.
  }
}

/** A failure to write `path` as one line: the OS's reason where HDF5 reports one (a full disk), else HDF5's. */
export function wrap(path: string, what: string, error: unknown): Error {
  if (error instanceof CellariumError) return error;
  const system = outputError(path, error);
  if (system instanceof OutputError) return system;
  const message = error instanceof Error ? error.message : String(error);
  // HDF5's sec2 driver: "... errno = 28, error message = 'No space left on device', ..."
  const reason = /error message = '([^']+)'/.exec(message)?.[1] ?? (hdf5Reason(error) || diskFull(path));
  return new OutputError(`${path}: cannot write ${what} (${reason})`, { file: path, cause: error });
}

/** The reason when HDF5 gives none (it formats its error stack into a temporary file, which a full disk refuses). */
function diskFull(path: string): string {
  try {
    if (statfsSync(dirname(path)).bavail === 0) return "no space left on device";
  } catch {
    // No reason to be found.
  }
  return "HDF5 gave no reason";
}
