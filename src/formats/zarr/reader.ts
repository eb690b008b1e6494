// What an AnnData-Zarr store holds, read through zarrita from its consolidated metadata (.zmetadata,
// else each group's own): the shape, obs and var columns with their kinds, the first names, and the
// obsm, varm, layers and uns keys. `cellarium inspect` prints it as it prints an .h5ad. Elements are
// dispatched by encoding-type and encoding-version through the Zarr reader's instance of the
// encoding registry (../encodings.ts), as the h5ad reader's are: a version it does not know is refused.

import FileSystemStore from "@zarrita/storage/fs";
import * as zarr from "zarrita";
import { ArgumentError } from "../../errors.js";
import { EncodingRegistry, KNOWN_VERSIONS, UNTAGGED } from "../encodings.js";
import type { DataFrameColumn } from "../h5ad/dataframe.js";

/** An obs or var column: its kind and, for categoricals, the categories; for numbers the dtype. */
export interface ZarrColumnSummary {
  readonly name: string;
  readonly kind: "categorical" | "numeric" | "boolean" | "string" | "other";
  readonly dtype?: string;
  readonly categories?: readonly string[];
}

export interface ZarrFrameSummary {
  readonly columns: readonly ZarrColumnSummary[];
  /** Rows of the frame (its index's length) and the first names. */
  readonly size: number;
  readonly head: readonly string[];
}

export interface ZarrAnnDataSummary {
  readonly nObs: number;
  readonly nVars: number;
  /** X's encoding-type, null without X. */
  readonly x: string | null;
  readonly obs: ZarrFrameSummary;
  readonly var: ZarrFrameSummary;
  /** Keys of obsm, varm and layers with their arrays' shapes. */
  readonly obsm: readonly { key: string; shape: readonly number[] }[];
  readonly varm: readonly { key: string; shape: readonly number[] }[];
  readonly layers: readonly string[];
  readonly uns: readonly string[];
}

type Store = Awaited<ReturnType<typeof zarr.withMaybeConsolidatedMetadata<FileSystemStore>>>;
type ZarrNode = zarr.Group<Store> | zarr.Array<zarr.DataType, Store>;

/** What the Zarr reader does with an element, by the role the element plays. */
interface ZarrDecoderRoles {
  /** The store's root. */
  anndata: true;
  /** obs or var. */
  dataframe: true;
  /** X: only its encoding is summarized. */
  matrix: true;
  /** A column of obs or var: its kind (and categories or dtype). */
  column: (node: ZarrNode) => Promise<Omit<ZarrColumnSummary, "name">>;
}

const ZARR_ENCODINGS = new EncodingRegistry<ZarrDecoderRoles, ZarrNode>((node) => ({
  kind: node instanceof zarr.Group ? "group" : "dataset",
  path: node.path,
  attr: (name) => {
    const value = node.attrs[name];
    return typeof value === "string" ? value : undefined;
  },
}));

async function categoricalColumn(node: ZarrNode): Promise<Omit<ZarrColumnSummary, "name">> {
  const categories = await zarr.get(await zarr.open.v2(node.resolve("categories"), { kind: "array" }));
  return { kind: "categorical", categories: Array.from(categories.data as ArrayLike<unknown>, String) };
}

/** A plain array column: its kind follows its dtype. */
async function arrayColumn(node: ZarrNode): Promise<Omit<ZarrColumnSummary, "name">> {
  const dtype = (node as zarr.Array<zarr.DataType, Store>).dtype;
  if (dtype === "bool") return { kind: "boolean" };
  if (dtype === "v2:object" || dtype === "string") return { kind: "string" };
  return { kind: "numeric", dtype };
}

ZARR_ENCODINGS.register("anndata", "group", "anndata", KNOWN_VERSIONS.anndata, true);
ZARR_ENCODINGS.register("anndata", "group", UNTAGGED, [UNTAGGED], true);
ZARR_ENCODINGS.register("dataframe", "group", "dataframe", KNOWN_VERSIONS.dataframe, true);
ZARR_ENCODINGS.register("dataframe", "group", UNTAGGED, [UNTAGGED], true);
ZARR_ENCODINGS.register("matrix", "group", "csr_matrix", KNOWN_VERSIONS.csr_matrix, true);
ZARR_ENCODINGS.register("matrix", "group", "csc_matrix", KNOWN_VERSIONS.csc_matrix, true);
ZARR_ENCODINGS.register("matrix", "dataset", "array", KNOWN_VERSIONS.array, true);
ZARR_ENCODINGS.register("matrix", "dataset", UNTAGGED, [UNTAGGED], true);
ZARR_ENCODINGS.register("column", "group", "categorical", KNOWN_VERSIONS.categorical, categoricalColumn);
ZARR_ENCODINGS.register("column", "dataset", "array", KNOWN_VERSIONS.array, arrayColumn);
ZARR_ENCODINGS.register("column", "dataset", UNTAGGED, [UNTAGGED], arrayColumn);
ZARR_ENCODINGS.register("column", "dataset", "string-array", KNOWN_VERSIONS["string-array"], async () => ({
  kind: "string",
}));

/** Reads the summary of the AnnData-Zarr store at `path` (names: the first `head` of each index). */
export async function readZarrSummary(path: string, head = 5): Promise<ZarrAnnDataSummary> {
  const store = await zarr.withMaybeConsolidatedMetadata(new FileSystemStore(path), { format: "v2" });
  const root = zarr.root(store);
  let rootGroup: zarr.Group<Store>;
  try {
    rootGroup = await zarr.open.v2(root, { kind: "group" });
  } catch (error) {
    throw new ArgumentError(`${path}: not a Zarr v2 store (${(error as Error).message})`, { cause: error });
  }
  const { encoding, decoder } = ZARR_ENCODINGS.lookup("anndata", path, rootGroup);
  if (decoder === undefined)
    throw new ArgumentError(`${path}: a Zarr store of encoding-type ${encoding}, not an AnnData`);
  const children = childrenOf(store);
  const obs = await frame(path, root, "obs", head);
  const vars = await frame(path, root, "var", head);
  const shapes = async (key: string) =>
    Promise.all(
      (children.get(key) ?? []).map(async (name) => ({
        key: name,
        shape: (await zarr.open.v2(root.resolve(`${key}/${name}`), { kind: "array" })).shape,
      })),
    );
  const x = children.get("")?.includes("X") ? xEncoding(path, await zarr.open.v2(root.resolve("X"))) : null;
  return {
    nObs: obs.size,
    nVars: vars.size,
    x,
    obs,
    var: vars,
    obsm: await shapes("obsm"),
    varm: await shapes("varm"),
    layers: children.get("layers") ?? [],
    uns: children.get("uns") ?? [],
  };
}

/** The names of each group's children, from the store's listing (consolidated metadata). */
function childrenOf(store: Store): Map<string, string[]> {
  const children = new Map<string, string[]>();
  if (!("contents" in store)) return children;
  for (const { path } of store.contents()) {
    if (path === "/") continue;
    const parts = path.slice(1).split("/");
    const parent = parts.slice(0, -1).join("/");
    children.set(parent, [...(children.get(parent) ?? []), parts.at(-1)!]);
  }
  for (const names of children.values()) names.sort();
  return children;
}

/** X's encoding-type (an untagged array is an array); one the reader knows at another version is refused. */
function xEncoding(path: string, node: ZarrNode): string {
  const { encoding } = ZARR_ENCODINGS.lookup("matrix", path, node);
  return encoding === UNTAGGED ? "array" : encoding;
}

async function frame(
  path: string,
  root: zarr.Location<Store>,
  key: string,
  head: number,
): Promise<ZarrFrameSummary> {
  const group = await zarr.open.v2(root.resolve(key), { kind: "group" });
  const { encoding, decoder } = ZARR_ENCODINGS.lookup("dataframe", path, group);
  if (decoder === undefined)
    throw new ArgumentError(`${path}: ${key} has encoding-type '${encoding}', not a dataframe`);
  const indexKey = String(group.attrs._index ?? "_index");
  const order = (group.attrs["column-order"] ?? []) as string[];
  const index = await zarr.open.v2(root.resolve(`${key}/${indexKey}`), { kind: "array" });
  const size = index.shape[0] ?? 0;
  // zarrita refuses an empty selection: a frame without rows (var of a predictions file) has no head.
  const first =
    Math.min(head, size) > 0 ? (await zarr.get(index, [zarr.slice(0, Math.min(head, size))])).data : [];
  const columns: ZarrColumnSummary[] = [];
  for (const name of order) {
    const node = await zarr.open.v2(root.resolve(`${key}/${name}`));
    // An encoding this reader does not decode (nullable-integer, ...) is listed as "other".
    const { decoder: column } = ZARR_ENCODINGS.lookup("column", path, node);
    columns.push({ name, ...(column === undefined ? { kind: "other" as const } : await column(node)) });
  }
  return { columns, size, head: Array.from(first as ArrayLike<unknown>, String) };
}

/**
 * An AnnData-Zarr store opened for a report: obsm rows and whole obs columns (decoded as the .h5ad
 * reader decodes them), read through zarrita chunk by chunk.
 */
export interface ZarrAnnData {
  readonly nObs: number;
  readonly obsColumns: readonly string[];
  readonly obsmKeys: readonly string[];
  /** Rows [start, end) of obsm[key] (a dense n x k array), row-major, and k. */
  obsmRows(key: string, start: number, end: number): Promise<{ data: ArrayLike<number>; k: number }>;
  obsColumn(name: string): Promise<DataFrameColumn>;
}

export async function openZarrAnnData(path: string): Promise<ZarrAnnData> {
  const summary = await readZarrSummary(path, 0);
  const store = await zarr.withMaybeConsolidatedMetadata(new FileSystemStore(path), { format: "v2" });
  const root = zarr.root(store);
  const array = (key: string) => zarr.open.v2(root.resolve(key), { kind: "array" });
  return {
    nObs: summary.nObs,
    obsColumns: summary.obs.columns.map((c) => c.name),
    obsmKeys: summary.obsm.map((m) => m.key),
    obsmRows: async (key, start, end) => {
      const obsm = await array(`obsm/${key}`);
      if (obsm.shape.length !== 2)
        throw new ArgumentError(`${path}: obsm/${key} has shape [${obsm.shape}], not cells x columns`);
      const block = await zarr.get(obsm, [zarr.slice(start, end), null]);
      return { data: block.data as ArrayLike<number>, k: obsm.shape[1]! };
    },
    obsColumn: async (name) => {
      const info = summary.obs.columns.find((c) => c.name === name);
      if (info === undefined)
        throw new ArgumentError(
          `${path}: obs has no column '${name}' (columns: ${summary.obs.columns.map((c) => c.name).join(", ")})`,
        );
      if (info.kind === "categorical") {
        const codes = (await zarr.get(await array(`obs/${name}/codes`))).data as ArrayLike<number>;
        return {
          kind: "categorical",
          codes: Int32Array.from(codes),
          categories: [...(info.categories ?? [])],
          ordered: false,
        };
      }
      const values = (await zarr.get(await array(`obs/${name}`))).data as ArrayLike<unknown>;
      if (info.kind === "numeric")
        return {
          kind: "numeric",
          dtype: info.dtype ?? "float64",
          values: Float64Array.from(values as ArrayLike<number>),
        };
      if (info.kind === "boolean")
        return { kind: "boolean", values: Uint8Array.from(values as ArrayLike<number>) };
      if (info.kind === "string") return { kind: "string", values: Array.from(values, String) };
      throw new ArgumentError(
        `${path}: obs column '${name}' is not a categorical, number, boolean or string column`,
      );
    },
  };
}
